"""Argon2id password helpers shared by the CLI, the demo seed and the login service."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from core.identity.passwords import (
    MIN_PASSWORD_LENGTH,
    burn_verification,
    hash_password,
    needs_rehash,
    verify_password,
)


def test_hash_verifies_only_the_same_password() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "correct horse batterY")


def test_hashes_are_salted() -> None:
    assert hash_password("same password") != hash_password("same password")


def test_malformed_hash_is_a_mismatch_not_an_error() -> None:
    assert not verify_password("not-a-hash", "whatever-password")
    assert needs_rehash("not-a-hash")


def test_weaker_parameters_need_a_rehash() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("pass-word-1")
    assert verify_password(weak, "pass-word-1")
    assert needs_rehash(weak)
    assert not needs_rehash(hash_password("pass-word-1"))


def test_short_passwords_are_refused() -> None:
    with pytest.raises(ValueError, match=str(MIN_PASSWORD_LENGTH)):
        hash_password("x" * (MIN_PASSWORD_LENGTH - 1))


def test_burn_verification_runs_without_an_account() -> None:
    burn_verification("anything at all")  # must not raise, whatever the input
