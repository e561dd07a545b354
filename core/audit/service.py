"""The audit log: every mutation writes one row in the same transaction as the change."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.tables import audit_log
from core.kernel.actor import Actor


def to_jsonable(value: Any) -> Any:
    """Make rows and values storable in JSONB (uuids, datetimes, enums, nested structures)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "_mapping"):  # a SQLAlchemy Row
        return to_jsonable(dict(value._mapping))
    return str(value)


@dataclass(frozen=True)
class AuditEntry:
    target_id: uuid.UUID | str | None
    before: Any = None
    after: Any = None
    details: dict[str, Any] | None = None


def _row(
    actor: Actor, action: str, target_type: str, entry: AuditEntry, at: datetime | None
) -> dict[str, Any]:
    payload: dict[str, Any] = dict(entry.details or {})
    if entry.before is not None:
        payload["before"] = to_jsonable(entry.before)
    if entry.after is not None:
        payload["after"] = to_jsonable(entry.after)
    row: dict[str, Any] = {
        "actor_type": actor.actor_type.value,
        "actor_user_id": actor.user_id,
        "actor_device_id": actor.device_id,
        "action": action,
        "target_type": target_type,
        "target_id": None if entry.target_id is None else str(entry.target_id),
        "client_ip": actor.client_ip,
        "details_json": to_jsonable(payload),
    }
    if at is not None:  # the injected clock's time; the database's now() otherwise
        row["created_at"] = at
    return row


async def record(
    conn: AsyncConnection,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    target_id: uuid.UUID | str | None,
    before: Any = None,
    after: Any = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    entry = AuditEntry(target_id, before, after, details)
    await conn.execute(insert(audit_log).values(_row(actor, action, target_type, entry, at)))


async def record_many(
    conn: AsyncConnection,
    actor: Actor,
    *,
    action: str,
    target_type: str,
    entries: Sequence[AuditEntry],
    at: datetime | None = None,
) -> None:
    """One audit row per entry, in a single multi-row INSERT (bulk mutations)."""
    if entries:
        rows = [_row(actor, action, target_type, entry, at) for entry in entries]
        await conn.execute(insert(audit_log).values(rows))
