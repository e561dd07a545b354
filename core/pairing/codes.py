"""Claim codes, the short codes people read off a screen or type into a player.

RFC 8628 §6.1: an alphabet without vowels (no accidental words) and without look-alike
characters, compared case-insensitively with separators ignored, so "bcdf-ghjk" and
"BCDFGHJK" are the same code. 20^8 codes (~2^34.6) plus per-address rate limits on wrong
attempts make guessing a live code impractical.
"""

from __future__ import annotations

import re
import secrets

from core.kernel.claim_codes import ALPHABET, CODE_LENGTH

_SEPARATORS = re.compile(r"[\s\-]+")
_VALID = re.compile(f"^[{ALPHABET}]{{{CODE_LENGTH}}}$")


def generate_claim_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))


def normalize_claim_code(raw: str) -> str | None:
    """The canonical form (upper case, no dashes or spaces), or None if it cannot be a code."""
    code = _SEPARATORS.sub("", raw).upper()
    return code if _VALID.match(code) else None


def display_claim_code(code: str) -> str:
    """How a screen shows the code: two groups of four, easier to read aloud."""
    return f"{code[:4]}-{code[4:]}"
