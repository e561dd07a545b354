"""The player's side of pairing: asking for a screen code, and exchanging a code for tokens.

Both flows end in the same exchange (`exchange_claim`):
- screen flow (RFC 8628 style): the player shows `claim_code`, keeps `device_code` secret and
  polls with both until a person approves the code in the console;
- console/installer flow: the console pre-assigns a claim to a store and group, an installer
  types the code on the player, which sends it alone.
A claim works once: the exchange locks the claim row and marks it used in the same
transaction that creates the device and its first refresh token.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import ClaimFlow, ClaimStatus
from core.db.tables import device_claims
from core.db.uow import UnitOfWork
from core.devices.credentials import DeviceCredentials, issue_credentials
from core.devices.registry import create_device
from core.errors import DomainError
from core.inputs import ensure_storable_json, ensure_storable_text
from core.kernel.actor import Actor
from core.pairing.attempts import (
    UNKNOWN_ADDRESS,
    audit_failed_attempt,
    create_claim_limiter,
    reserve_claim_attempt,
)
from core.pairing.codes import normalize_claim_code
from core.pairing.errors import (
    AccessDenied,
    AuthorizationPending,
    ClaimAlreadyUsed,
    ExpiredClaim,
    InvalidGrant,
    SlowDown,
)
from core.pairing.repository import insert_claims, lock_claim
from core.security.tokens import TokenService, hash_secret, new_opaque_secret

SLOW_DOWN_STEP_S = 5  # RFC 8628 §3.5
MAX_POLL_INTERVAL_S = 60


@dataclass(frozen=True)
class ScreenClaim:
    claim_code: str
    device_code: str
    expires_at: datetime
    interval_s: int


async def create_screen_claim(
    services: Services, *, device_info: dict[str, Any] | None, client_ip: str | None
) -> ScreenClaim:
    """A new code for the player to show; only the hash of `device_code` is stored."""
    # No token is needed to get here: refuse what the claim row could not store (422) before
    # anything is spent.
    ensure_storable_json(
        device_info, "device_info", "device_info holds values that cannot be stored"
    )
    await create_claim_limiter(services).consume(client_ip or UNKNOWN_ADDRESS)
    device_code = new_opaque_secret()
    now = services.clock.now()
    settings = services.settings
    async with services.uow() as uow:
        [row] = await insert_claims(
            uow.conn,
            [
                {
                    "flow": ClaimFlow.SCREEN.value,
                    "status": ClaimStatus.PENDING.value,
                    "device_code_hash": hash_secret(device_code),
                    "expires_at": now + timedelta(seconds=settings.claim_ttl_s),
                    "interval_s": settings.claim_poll_interval_s,
                    "device_info_json": device_info or {},
                    "created_at": now,
                }
            ],
        )
        await uow.commit()
    return ScreenClaim(
        claim_code=row.claim_code,
        device_code=device_code,
        expires_at=row.expires_at,
        interval_s=row.interval_s,
    )


async def exchange_claim(
    services: Services,
    tokens: TokenService,
    *,
    claim_code: str,
    device_code: str | None,
    device_info: dict[str, Any] | None,
    client_ip: str | None,
) -> DeviceCredentials:
    """Tokens for an approved claim, or the poll answer / failure as a PairingError.

    Failure budgets (`core.pairing.attempts`, whose docstring states the rule): the right
    device secret skips them; other exchanges take their slots before the claim is read.
    """
    # Unstorable input is the caller's error (422, `core.inputs`), not a guess to count.
    ensure_storable_text(
        {"claim_code": claim_code, "device_code": device_code}, "the claim holds invalid text"
    )
    ensure_storable_json(
        device_info, "device_info", "device_info holds values that cannot be stored"
    )
    code = normalize_claim_code(claim_code)
    holds: bool | None = None
    if device_code is not None:
        holds = await _holds_credential(services, code, device_code)
        if holds:
            return await _exchange_committed(
                services, tokens, claim_code, device_code, device_info, client_ip
            )
    attempt = await reserve_claim_attempt(services, client_ip=client_ip, code=code)
    failed = False
    try:
        if attempt.restricted:
            if holds is None:
                holds = await _holds_credential(services, code, device_code)
            if not holds:
                raise await attempt.refuse_guess()
        try:
            return await _exchange_committed(
                services, tokens, claim_code, device_code, device_info, client_ip
            )
        except InvalidGrant:
            failed = True
            raise
    finally:
        # Unexpected errors give the slot back too: the caller learnt nothing from them.
        await attempt.settle(failed=failed)


async def _holds_credential(services: Services, code: str | None, device_code: str | None) -> bool:
    """Whether a claim matches this code and secret (read-only; the exchange checks again)."""
    if code is None:
        return False
    async with services.engine.connect() as conn:
        claim = (
            await conn.execute(select(*device_claims.c).where(device_claims.c.claim_code == code))
        ).one_or_none()
    return claim is not None and _secret_matches(claim, device_code)


async def _exchange_committed(
    services: Services,
    tokens: TokenService,
    claim_code: str,
    device_code: str | None,
    device_info: dict[str, Any] | None,
    client_ip: str | None,
) -> DeviceCredentials:
    async with services.uow() as uow:
        outcome = await _exchange(
            uow, services, tokens, claim_code, device_code, device_info, client_ip
        )
        # Commit even for failures: poll bookkeeping and audit rows of wrong attempts stay.
        await uow.commit()
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


def _secret_matches(claim: Row[Any], device_code: str | None) -> bool:
    """Screen claims need the device's secret; console claims must come without one."""
    if claim.flow == ClaimFlow.SCREEN.value:
        return device_code is not None and hmac.compare_digest(
            hash_secret(device_code), claim.device_code_hash or ""
        )
    return device_code is None


async def _exchange(
    uow: UnitOfWork,
    services: Services,
    tokens: TokenService,
    raw_code: str,
    device_code: str | None,
    device_info: dict[str, Any] | None,
    client_ip: str | None,
) -> DeviceCredentials | DomainError:
    conn = uow.conn
    code = normalize_claim_code(raw_code)
    claim = await lock_claim(conn, code) if code is not None else None
    if claim is None or not _secret_matches(claim, device_code):
        reason = "malformed_code" if code is None else "unknown_code"
        if claim is not None:
            reason = "wrong_device_code" if device_code is not None else "device_code_missing"
        await audit_failed_attempt(
            conn,
            client_ip=client_ip,
            reason=reason,
            claim_id=claim.id if claim else None,
            at=services.clock.now(),
        )
        return InvalidGrant("unknown claim code", field="claim_code")
    if claim.used_at is not None:
        await audit_failed_attempt(
            conn,
            client_ip=client_ip,
            reason="already_used",
            claim_id=claim.id,
            at=services.clock.now(),
        )
        return ClaimAlreadyUsed("this claim code was already used", field="claim_code")
    now = services.clock.now()
    if now >= claim.expires_at:
        return ExpiredClaim("this claim code has expired; request a new one")
    if claim.status == ClaimStatus.DENIED.value:
        return AccessDenied("pairing was denied in the console")
    if claim.status == ClaimStatus.PENDING.value:
        return await _poll(conn, claim, now)
    return await _complete(uow, services, tokens, claim, device_info, client_ip)


async def _poll(conn: AsyncConnection, claim: Row[Any], now: datetime) -> DomainError:
    interval = int(claim.interval_s)
    last = claim.last_polled_at
    too_fast = last is not None and now - last < timedelta(seconds=interval)
    if too_fast:
        interval = min(interval + SLOW_DOWN_STEP_S, MAX_POLL_INTERVAL_S)
    await conn.execute(
        update(device_claims)
        .where(device_claims.c.id == claim.id)
        .values(last_polled_at=now, interval_s=interval)
    )
    details = {"interval": interval}
    if too_fast:
        return SlowDown(f"polling too fast; poll every {interval} s", details=details)
    return AuthorizationPending("waiting for approval in the console", details=details)


async def _complete(
    uow: UnitOfWork,
    services: Services,
    tokens: TokenService,
    claim: Row[Any],
    device_info: dict[str, Any] | None,
    client_ip: str | None,
) -> DeviceCredentials | DomainError:
    conn, now = uow.conn, services.clock.now()
    # The guard that makes the code single-use even without the row lock.
    taken = (
        await conn.execute(
            update(device_claims)
            .where(device_claims.c.id == claim.id, device_claims.c.used_at.is_(None))
            .values(status=ClaimStatus.USED.value, used_at=now, last_polled_at=now)
            .returning(device_claims.c.id)
        )
    ).one_or_none()
    if taken is None:
        return ClaimAlreadyUsed("this claim code was already used", field="claim_code")
    info = device_info if device_info is not None else (claim.device_info_json or None)
    device_id, epoch = await create_device(
        conn,
        services.clock,
        store_id=claim.store_id,
        group_id=claim.group_id,
        external_name=claim.external_name,
        device_info=info,
    )
    await conn.execute(
        update(device_claims)
        .where(device_claims.c.id == claim.id)
        .values(device_id=device_id, device_info_json=info or {})
    )
    credentials = await issue_credentials(
        conn,
        services,
        tokens,
        device_id=device_id,
        epoch=epoch,
        store_id=claim.store_id,
        group_id=claim.group_id,
    )
    await record(
        conn,
        Actor.device(device_id, client_ip),
        action="device.paired",
        target_type="device",
        target_id=device_id,
        details={"claim_id": str(claim.id), "flow": claim.flow},
        at=now,
    )
    return credentials
