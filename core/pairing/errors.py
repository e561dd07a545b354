"""Pairing outcomes that are not a success.

The codes are RFC 8628's (§3.5) and RFC 6749's, so player developers recognise them. The
poll answers use HTTP 400 as RFC 8628 does; only a code that was already used answers 409.
"""

from __future__ import annotations

from core.errors import DomainError


class PairingError(DomainError):
    status_hint = 400


class AuthorizationPending(PairingError):
    """The claim has not been approved yet: poll again after `interval` seconds."""

    code = "authorization_pending"


class SlowDown(PairingError):
    """Polled faster than the interval: the interval has grown by SLOW_DOWN_STEP_S."""

    code = "slow_down"


class AccessDenied(PairingError):
    code = "access_denied"


class ExpiredClaim(PairingError):
    code = "expired_token"


class InvalidGrant(PairingError):
    """Unknown code, or a secret that does not match: counted as a wrong attempt."""

    code = "invalid_grant"


class ClaimAlreadyUsed(InvalidGrant):
    status_hint = 409
