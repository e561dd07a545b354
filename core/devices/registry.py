"""Creating device records when a claim is exchanged."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from core.clock import Clock
from core.db.enums import DeviceStatus
from core.db.tables import devices


async def create_device(
    conn: AsyncConnection,
    clock: Clock,
    *,
    store_id: uuid.UUID | None,
    group_id: uuid.UUID | None,
    external_name: str | None,
    device_info: dict[str, Any] | None,
) -> tuple[uuid.UUID, int]:
    """Insert a device in PENDING status (online comes with its first heartbeat).

    Returns the id and the token epoch the first tokens are minted under.
    """
    now = clock.now()
    info = device_info or {}
    player_version = info.get("player_version")
    row = (
        await conn.execute(
            insert(devices)
            .values(
                external_name=external_name,
                store_id=store_id,
                group_id=group_id,
                status=DeviceStatus.PENDING.value,
                status_changed_at=now,
                device_info_json=info,
                player_version=player_version if isinstance(player_version, str) else None,
                created_at=now,
                updated_at=now,
            )
            .returning(devices.c.id, devices.c.token_epoch)
        )
    ).one()
    return row.id, int(row.token_epoch)
