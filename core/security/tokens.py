"""Signed JWTs for consoles and devices, following RFC 8725.

The algorithm is pinned (HS256, keys from JWT_KEYS), every token names its signing key in
`kid` so keys rotate without a flag day, and each kind of token has its own `typ` and `aud`:
a console token never passes on the device edge and a device token never on the admin API.
Expiry is checked against the injected clock, not pyjwt's wall clock, so tests travel in time.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import jwt

from core.clock import Clock
from core.config import Settings
from core.errors import Unauthenticated

ALGORITHM = "HS256"


class TokenKind(StrEnum):
    DEVICE_ACCESS = "device-access"
    CONSOLE_ACCESS = "console-access"


AUDIENCE: dict[TokenKind, str] = {
    TokenKind.DEVICE_ACCESS: "signage-device-edge",
    TokenKind.CONSOLE_ACCESS: "signage-console",
}


class InvalidToken(Unauthenticated):
    code = "invalid_token"


class ExpiredToken(Unauthenticated):
    code = "token_expired"


@dataclass(frozen=True)
class VerifiedToken:
    subject: str
    kind: TokenKind
    jti: str
    issued_at: datetime
    expires_at: datetime
    claims: dict[str, Any]


def new_opaque_secret(nbytes: int = 32) -> str:
    """A high-entropy secret for refresh tokens and device codes (stored only as a hash)."""
    return secrets.token_urlsafe(nbytes)


def hash_secret(secret: str) -> str:
    """Deterministic hash for lookup: the secrets are random, so no salt or slow KDF is needed."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


class TokenService:
    def __init__(self, settings: Settings, clock: Clock, *, verified_cache_size: int = 0) -> None:
        """`verified_cache_size` > 0 remembers that many successfully verified tokens.

        Why: a device presents the same access token on every request for its lifetime, and
        signature and claim checks cost more than the rest of a heartbeat. Verification is a
        pure function of the token string and the key set (fixed for the process), so a hit
        only needs the expiry re-checked against the clock; failures are never remembered.
        """
        self._keys = {kid: key.get_secret_value() for kid, key in settings.jwt_keys.items()}
        self._active_kid = settings.jwt_active_kid
        self._issuer = settings.jwt_issuer
        self._clock = clock
        self._cache_size = verified_cache_size
        self._verified: OrderedDict[tuple[str, TokenKind], VerifiedToken] = OrderedDict()

    def issue(
        self,
        kind: TokenKind,
        subject: str,
        *,
        ttl_s: int,
        extra: dict[str, Any] | None = None,
    ) -> tuple[str, datetime]:
        now = self._clock.now()
        expires = now + timedelta(seconds=ttl_s)
        claims: dict[str, Any] = {
            **(extra or {}),
            "iss": self._issuer,
            "aud": AUDIENCE[kind],
            "sub": subject,
            "typ": kind.value,
            "jti": uuid.uuid4().hex,
            "iat": int(now.timestamp()),
            "exp": int(expires.timestamp()),
        }
        token = jwt.encode(
            claims,
            self._keys[self._active_kid],
            algorithm=ALGORITHM,
            headers={"kid": self._active_kid, "typ": "JWT"},
        )
        return token, expires

    def verify(self, token: str, kind: TokenKind) -> VerifiedToken:
        if self._cache_size:
            cached = self._verified.get((token, kind))
            if cached is not None:
                if self._clock.now() >= cached.expires_at:
                    raise ExpiredToken("token expired")
                self._verified.move_to_end((token, kind))
                return cached
        verified = self._verify(token, kind)
        if self._cache_size:
            self._verified[(token, kind)] = verified
            if len(self._verified) > self._cache_size:
                self._verified.popitem(last=False)
        return verified

    def _verify(self, token: str, kind: TokenKind) -> VerifiedToken:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        if header.get("alg") != ALGORITHM:
            raise InvalidToken("token algorithm is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or kid not in self._keys:
            raise InvalidToken("unknown signing key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._keys[kid],
                algorithms=[ALGORITHM],
                audience=AUDIENCE[kind],
                issuer=self._issuer,
                options={
                    "require": ["exp", "iat", "sub", "jti", "iss", "aud"],
                    "verify_exp": False,  # checked below against the injected clock
                    "verify_iat": False,
                },
            )
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("token is not meant for this service") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken("invalid token") from exc
        if claims.get("typ") != kind.value:
            raise InvalidToken("wrong token type")
        exp, iat = claims["exp"], claims["iat"]
        if not isinstance(exp, int) or not isinstance(iat, int):
            raise InvalidToken("invalid token times")
        now = self._clock.now().timestamp()
        if now >= exp:
            raise ExpiredToken("token expired")
        tz = self._clock.now().tzinfo
        return VerifiedToken(
            subject=str(claims["sub"]),
            kind=kind,
            jti=str(claims["jti"]),
            issued_at=datetime.fromtimestamp(iat, tz),
            expires_at=datetime.fromtimestamp(exp, tz),
            claims=claims,
        )
