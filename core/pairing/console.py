"""The console's side of pairing: approving or denying screen codes, pre-assigning claims.

Every decision is audited and needs the MANAGE_FLEET permission. A console-created claim is
born APPROVED (the person creating it already chose store, group and name), so the player's
exchange is the same for both flows: an APPROVED, unused, unexpired claim yields tokens.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from core.audit.service import record
from core.bootstrap import Services
from core.db.enums import ClaimFlow, ClaimStatus
from core.db.tables import device_claims, device_groups, stores
from core.db.uow import UnitOfWork
from core.errors import Conflict, NotFound, ValidationFailed
from core.kernel.actor import Actor, Permission
from core.pairing.codes import display_claim_code, normalize_claim_code
from core.pairing.repository import insert_claims, lock_claim
from core.validation import FieldErrors, clean_text

MAX_CLAIMS_PER_BATCH = 500
DEFAULT_CONSOLE_CLAIM_TTL = timedelta(days=3)
MAX_CONSOLE_CLAIM_TTL = timedelta(days=30)
MAX_NAME_LENGTH = 200
MAX_LIST = 500


@dataclass(frozen=True)
class ClaimView:
    id: uuid.UUID
    claim_code: str
    flow: ClaimFlow
    status: ClaimStatus
    expired: bool
    expires_at: datetime
    created_at: datetime
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    external_name: str | None
    device_info: dict[str, Any]
    approved_at: datetime | None
    denied_at: datetime | None
    used_at: datetime | None
    device_id: uuid.UUID | None

    @property
    def display_code(self) -> str:
        return display_claim_code(self.claim_code)


def _view(row: Row[Any], now: datetime) -> ClaimView:
    return ClaimView(
        id=row.id,
        claim_code=row.claim_code,
        flow=ClaimFlow(row.flow),
        status=ClaimStatus(row.status),
        expired=row.used_at is None and now >= row.expires_at,
        expires_at=row.expires_at,
        created_at=row.created_at,
        store_id=row.store_id,
        group_id=row.group_id,
        external_name=row.external_name,
        device_info=dict(row.device_info_json or {}),
        approved_at=row.approved_at,
        denied_at=row.denied_at,
        used_at=row.used_at,
        device_id=row.device_id,
    )


def _clean_name(name: str | None, field: str) -> str | None:
    """An optional display name under the shared text rule (`core.validation.clean_text`)."""
    errors = FieldErrors()
    cleaned = clean_text(errors, field, name, required=False, max_length=MAX_NAME_LENGTH)
    errors.raise_if_any()
    return cleaned


async def _ensure_placement(
    conn: AsyncConnection, store_id: uuid.UUID, group_id: uuid.UUID
) -> None:
    store = (await conn.execute(select(stores.c.id).where(stores.c.id == store_id))).first()
    if store is None:
        raise NotFound("store not found", field="storeId")
    group = (
        await conn.execute(select(device_groups.c.id).where(device_groups.c.id == group_id))
    ).first()
    if group is None:
        raise NotFound("device group not found", field="groupId")


async def _locked_open_claim(conn: AsyncConnection, claim_code: str, now: datetime) -> Row[Any]:
    code = normalize_claim_code(claim_code)
    claim = await lock_claim(conn, code) if code is not None else None
    if claim is None:
        raise NotFound("no claim with this code", field="claimCode")
    if claim.used_at is not None:
        raise Conflict(
            "this claim was already used", field="claimCode", details={"code": "claim_used"}
        )
    if now >= claim.expires_at:
        raise Conflict("this claim has expired", field="claimCode", details={"code": "expired"})
    return claim


async def approve_claim(
    services: Services,
    actor: Actor,
    *,
    claim_code: str,
    store_id: uuid.UUID,
    group_id: uuid.UUID,
    name: str | None,
) -> ClaimView:
    """Approve a code shown on a screen; the player's next poll receives its tokens."""
    actor.require(Permission.MANAGE_FLEET)
    name = _clean_name(name, "name")
    async with services.uow() as uow:
        view = await _approve(
            uow, actor, services.clock.now(), claim_code, store_id, group_id, name
        )
        await uow.commit()
    return view


async def _approve(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    claim_code: str,
    store_id: uuid.UUID,
    group_id: uuid.UUID,
    name: str | None,
) -> ClaimView:
    conn = uow.conn
    claim = await _locked_open_claim(conn, claim_code, now)
    if claim.flow != ClaimFlow.SCREEN.value or claim.status != ClaimStatus.PENDING.value:
        raise Conflict(
            f"only pending screen claims can be approved (this one is {claim.status})",
            field="claimCode",
            details={"code": "not_pending"},
        )
    await _ensure_placement(conn, store_id, group_id)
    row = (
        await conn.execute(
            update(device_claims)
            .where(device_claims.c.id == claim.id)
            .values(
                status=ClaimStatus.APPROVED.value,
                store_id=store_id,
                group_id=group_id,
                external_name=name,
                approved_at=now,
                decided_by=actor.user_id,
            )
            .returning(*device_claims.c)
        )
    ).one()
    await record(
        conn,
        actor,
        action="device_claim.approved",
        target_type="device_claim",
        target_id=claim.id,
        details={"store_id": str(store_id), "group_id": str(group_id), "name": name},
        at=now,
    )
    return _view(row, now)


async def deny_claim(services: Services, actor: Actor, *, claim_code: str) -> ClaimView:
    """Deny a screen code, or withdraw an unused installer code."""
    actor.require(Permission.MANAGE_FLEET)
    async with services.uow() as uow:
        view = await _deny(uow, actor, services.clock.now(), claim_code)
        await uow.commit()
    return view


async def _deny(uow: UnitOfWork, actor: Actor, now: datetime, claim_code: str) -> ClaimView:
    conn = uow.conn
    claim = await _locked_open_claim(conn, claim_code, now)
    if claim.status == ClaimStatus.DENIED.value:
        raise Conflict(
            "this claim is already denied", field="claimCode", details={"code": "denied"}
        )
    row = (
        await conn.execute(
            update(device_claims)
            .where(device_claims.c.id == claim.id)
            .values(status=ClaimStatus.DENIED.value, denied_at=now, decided_by=actor.user_id)
            .returning(*device_claims.c)
        )
    ).one()
    await record(
        conn,
        actor,
        action="device_claim.denied",
        target_type="device_claim",
        target_id=claim.id,
        details={"flow": claim.flow, "previous_status": claim.status},
        at=now,
    )
    return _view(row, now)


async def create_console_claims(
    services: Services,
    actor: Actor,
    *,
    store_id: uuid.UUID,
    group_id: uuid.UUID,
    names: Sequence[str | None],
    ttl: timedelta = DEFAULT_CONSOLE_CLAIM_TTL,
    interval_s: int = 5,
) -> list[ClaimView]:
    """Pre-assigned installer codes, one per name (None for an unnamed device), in one INSERT."""
    actor.require(Permission.MANAGE_FLEET)
    if not names:
        raise ValidationFailed(
            "ask for at least one claim",
            field="count",
            errors=[{"field": "count", "code": "out_of_range", "message": "at least 1"}],
        )
    if len(names) > MAX_CLAIMS_PER_BATCH:
        raise ValidationFailed(
            f"at most {MAX_CLAIMS_PER_BATCH} claims at once",
            field="count",
            errors=[
                {
                    "field": "count",
                    "code": "too_many",
                    "message": f"at most {MAX_CLAIMS_PER_BATCH}",
                }
            ],
        )
    if ttl <= timedelta(0) or ttl > MAX_CONSOLE_CLAIM_TTL:
        raise ValidationFailed(
            "claims expire between 1 hour and 30 days",
            field="expiresInHours",
            errors=[
                {
                    "field": "expiresInHours",
                    "code": "out_of_range",
                    "message": "between 1 hour and 30 days",
                }
            ],
        )
    cleaned = [_clean_name(name, f"names[{index}]") for index, name in enumerate(names)]
    async with services.uow() as uow:
        views = await _create(
            uow, actor, services.clock.now(), store_id, group_id, cleaned, ttl, interval_s
        )
        await uow.commit()
    return views


async def _create(
    uow: UnitOfWork,
    actor: Actor,
    now: datetime,
    store_id: uuid.UUID,
    group_id: uuid.UUID,
    cleaned: Sequence[str | None],
    ttl: timedelta,
    interval_s: int,
) -> list[ClaimView]:
    conn = uow.conn
    await _ensure_placement(conn, store_id, group_id)
    rows = await insert_claims(
        conn,
        [
            {
                "flow": ClaimFlow.CONSOLE.value,
                "status": ClaimStatus.APPROVED.value,
                "expires_at": now + ttl,
                "interval_s": interval_s,
                "store_id": store_id,
                "group_id": group_id,
                "external_name": name,
                "approved_at": now,
                "created_by": actor.user_id,
                "decided_by": actor.user_id,
                "created_at": now,
            }
            for name in cleaned
        ],
    )
    await record(
        conn,
        actor,
        action="device_claim.created",
        target_type="store",
        target_id=store_id,
        details={
            "group_id": str(group_id),
            "count": len(rows),
            "claim_ids": [str(row.id) for row in rows],
            "expires_at": (now + ttl).isoformat(),
        },
        at=now,
    )
    return [_view(row, now) for row in rows]


async def list_claims(
    services: Services,
    actor: Actor,
    *,
    status: ClaimStatus | None = None,
    include_expired: bool = False,
    limit: int = 100,
) -> list[ClaimView]:
    """Claims newest first; unused expired ones only on request.

    Codes are credentials (anyone holding an installer code can pair a player into that
    store), so listing needs MANAGE_FLEET, not READ.
    """
    actor.require(Permission.MANAGE_FLEET)
    now = services.clock.now()
    query = select(*device_claims.c).order_by(device_claims.c.created_at.desc(), device_claims.c.id)
    if status is not None:
        query = query.where(device_claims.c.status == status.value)
    if not include_expired:
        query = query.where(
            or_(device_claims.c.expires_at > now, device_claims.c.used_at.is_not(None))
        )
    async with services.engine.connect() as conn:
        rows = (await conn.execute(query.limit(max(1, min(limit, MAX_LIST))))).all()
    return [_view(row, now) for row in rows]
