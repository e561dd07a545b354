"""What counts as a secret in text we print, and how it is hidden: one rule for every log line,
settings repr and error message.

Why a rule of its own: secrets reach output by many roads (a field named `device_code`, a
bearer token inside an exception message, a password inside a `DATABASE_URL`, a query string
in an access log), and each road must not need its own fix. `core.logging` runs every log
event through `redact`; `core.config` masks service URLs with `mask_url_password`.

The patterns err on the side of hiding: a false positive costs a `[redacted]` in a log line,
a false negative leaks a credential.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from core.kernel.claim_codes import ALPHABET

REDACTED = "[redacted]"

# Keys (case-insensitive, "-" same as "_") whose values are secrets wherever they appear.
_SECRET_KEYS = frozenset(
    {
        "token",
        "access_token",
        "refresh_token",
        "device_token",
        "id_token",
        "device_code",
        "device_secret",
        "claim_code",
        "claim_code_display",
        "user_code",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "api_key",
        "private_key",
        "jwt_keys",
        "signature",
        "sig",
    }
)
_SECRET_KEY_PARTS = ("password", "passwd", "secret")
_SECRET_KEY_SUFFIXES = ("_token", "_tokens")

_KEYED_NAMES = (
    r"access_token|refresh_token|device_token|id_token|token|device_code|device_secret"
    r"|claim_code|user_code|password|passwd|client_secret|secret|cookie|sig|signature"
)
# scheme://user:password@host -> scheme://user:[redacted]@host (DATABASE_URL, REDIS_URL)
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]*:)[^\s/]+@")
_URL_PASSWORD_MASK = rf"\1{REDACTED}@"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (_URL_PASSWORD, _URL_PASSWORD_MASK),
    # Authorization header values: "Bearer <token>", "Basic <credentials>"
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=\-]{6,}"), rf"\1\2{REDACTED}"),
    # JWTs (base64url of '{"' is "eyJ"), alone or as a whole token
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{6,}(?:\.[A-Za-z0-9_\-]*){0,2}"), REDACTED),
    # key=value, key: value, 'key': 'value' (query strings, reprs, messages)
    (
        re.compile(
            rf"(?i)\b({_KEYED_NAMES})\b(['\"]?\s*[=:]\s*b?['\"]?)(?!\[redacted\])"
            r"[^\s&'\",;)}\]]+"
        ),
        rf"\1\2{REDACTED}",
    ),
    # a claim code as people read it (core.pairing.codes): 8 letters of its alphabet, or 4-4
    (re.compile(rf"\b[{ALPHABET}]{{4}}-?[{ALPHABET}]{{4}}\b"), REDACTED),
)


def is_secret_key(key: str) -> bool:
    name = key.lower().replace("-", "_")
    return (
        name in _SECRET_KEYS
        or name.endswith(_SECRET_KEY_SUFFIXES)
        or any(part in name for part in _SECRET_KEY_PARTS)
    )


def redact_text(text: str) -> str:
    """`text` with every credential-looking part replaced by `[redacted]`."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def redact(value: Any) -> Any:
    """A copy of `value` safe to print: secret keys of mappings (at any depth) are replaced,
    strings are scrubbed, and any other object is scrubbed in its repr (which is how log
    renderers would print it anyway)."""
    if isinstance(value, str):
        return redact_text(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {
            key: REDACTED if is_secret_key(str(key)) else redact(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact(item) for item in value]
    if isinstance(value, bytes):
        return redact_text(value.decode("utf-8", "replace"))
    return redact_text(repr(value))


def mask_url_password(url: str | None) -> str | None:
    """The URL with its password (if any) replaced, for anything printed about it."""
    if url is None:
        return None
    return _URL_PASSWORD.sub(_URL_PASSWORD_MASK, url)
