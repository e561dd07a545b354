"""Console password hashing with Argon2id (argon2-cffi, RFC 9106 parameters).

Why a module of its own: the CLI, the demo seed and the login service must all hash the same
way, and raising the cost later only needs `needs_rehash` at the next successful login.
"""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when `password` matches; a malformed hash is a mismatch, never an exception."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than the current ones."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("no-such-user-placeholder")


def burn_verification(password: str) -> None:
    """Spend the time of one verification when the account does not exist.

    A login that returns faster for unknown emails tells an attacker which emails exist.
    """
    verify_password(_dummy_hash(), password)
