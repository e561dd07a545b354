"""Rows for plan tests, inserted directly (the programming services have their own tests):
stores, groups, devices in bulk, content with versions, playlists, schedules, campaigns."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import DeviceStatus, TargetType
from core.db.tables import (
    campaigns,
    content,
    content_versions,
    device_groups,
    playlist_items,
    playlists,
    schedules,
    stores,
)

WEEKDAYS_9_TO_17 = {"dayparts": [{"weekdays": [1, 2, 3, 4, 5], "start": "09:00", "end": "17:00"}]}


async def insert(services: Services, table: sa.Table, **values: Any) -> uuid.UUID:
    async with services.engine.begin() as conn:
        new_id: uuid.UUID = (
            await conn.execute(sa.insert(table).values(**values).returning(table.c.id))
        ).scalar_one()
    return new_id


async def update(services: Services, table: sa.Table, row_id: uuid.UUID, **values: Any) -> None:
    async with services.engine.begin() as conn:
        await conn.execute(sa.update(table).where(table.c.id == row_id).values(**values))


async def add_store(services: Services, timezone: str = "Europe/Berlin") -> uuid.UUID:
    return await insert(services, stores, name=f"Store {uuid.uuid4().hex[:6]}", timezone=timezone)


async def add_group(services: Services, default_playlist_id: uuid.UUID | None = None) -> uuid.UUID:
    return await insert(
        services,
        device_groups,
        name=f"Group {uuid.uuid4().hex[:6]}",
        default_playlist_id=default_playlist_id,
    )


async def add_devices(
    services: Services,
    count: int,
    *,
    store_id: uuid.UUID | None,
    group_id: uuid.UUID | None,
    status: DeviceStatus = DeviceStatus.ONLINE,
) -> list[uuid.UUID]:
    """`count` devices in one statement (server-side generate_series)."""
    async with services.engine.begin() as conn:
        rows = await conn.execute(
            sa.text(
                "INSERT INTO devices (store_id, group_id, status, external_name) "
                "SELECT :store_id, :group_id, :status, 'screen-' || n "
                "FROM generate_series(1, :count) AS n RETURNING id"
            ),
            {"store_id": store_id, "group_id": group_id, "status": status.value, "count": count},
        )
        return sorted(row.id for row in rows)


async def add_device(
    services: Services, *, store_id: uuid.UUID | None, group_id: uuid.UUID | None
) -> uuid.UUID:
    return (await add_devices(services, 1, store_id=store_id, group_id=group_id))[0]


async def add_content(
    services: Services, name: str = "clip", *, versions: int = 1, duration_ms: int | None = 10_000
) -> tuple[uuid.UUID, list[uuid.UUID]]:
    content_id = await insert(services, content, name=name, type="video")
    version_ids = [
        await add_version(services, content_id, n, duration_ms) for n in range(1, versions + 1)
    ]
    return content_id, version_ids


async def add_version(
    services: Services, content_id: uuid.UUID, number: int, duration_ms: int | None = 10_000
) -> uuid.UUID:
    digest = hashlib.sha256(f"{content_id}:{number}".encode()).hexdigest()
    return await insert(
        services,
        content_versions,
        content_id=content_id,
        version_number=number,
        version_hash=digest,
        storage_key=f"content/{content_id}/{number}",
        url=f"https://cdn.example/{content_id}/{number}.mp4",
        sha256=digest,
        bytes=1000 * number,
        mime="video/mp4",
        duration_ms=duration_ms,
    )


@dataclass(frozen=True)
class Item:
    content_id: uuid.UUID
    version_id: uuid.UUID | None = None  # None: follow the latest version
    weight: int = 1


async def add_playlist(
    services: Services, *items: Item, campaign_id: uuid.UUID | None = None
) -> uuid.UUID:
    playlist_id = await insert(
        services, playlists, name=f"Playlist {uuid.uuid4().hex[:6]}", campaign_id=campaign_id
    )
    for index, item in enumerate(items):
        await add_item(services, playlist_id, item, index)
    return playlist_id


async def add_item(services: Services, playlist_id: uuid.UUID, item: Item, index: int) -> uuid.UUID:
    return await insert(
        services,
        playlist_items,
        playlist_id=playlist_id,
        content_id=item.content_id,
        content_version_id=item.version_id,
        order_index=index,
        weight=item.weight,
    )


async def add_schedule(
    services: Services,
    *,
    target_type: TargetType,
    target_id: uuid.UUID,
    playlist_id: uuid.UUID,
    rules: dict[str, Any] | None = None,
    priority: int = 0,
    timezone: str | None = None,
    campaign_id: uuid.UUID | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    enabled: bool = True,
) -> uuid.UUID:
    return await insert(
        services,
        schedules,
        name="schedule",
        target_type=target_type.value,
        target_id=target_id,
        playlist_id=playlist_id,
        rules_json=rules if rules is not None else {},
        priority=priority,
        timezone=timezone,
        campaign_id=campaign_id,
        valid_from=valid_from,
        valid_to=valid_to,
        enabled=enabled,
    )


async def add_campaign(services: Services, start: date, end: date) -> uuid.UUID:
    return await insert(
        services, campaigns, brand_name="Brand", name="Campaign", start_date=start, end_date=end
    )


@dataclass(frozen=True)
class World:
    """A store in Berlin, a group whose default playlist is `fallback_playlist`, and a
    weekday 09:00-17:00 group schedule playing `promo_playlist` on its devices."""

    store_id: uuid.UUID
    group_id: uuid.UUID
    device_ids: list[uuid.UUID]
    promo_content: uuid.UUID
    promo_playlist: uuid.UUID
    fallback_playlist: uuid.UUID
    schedule_id: uuid.UUID


async def make_world(services: Services, devices_count: int = 3) -> World:
    store_id = await add_store(services)
    promo, _ = await add_content(services, "promo")
    filler, _ = await add_content(services, "filler")
    promo_playlist = await add_playlist(services, Item(promo))
    fallback = await add_playlist(services, Item(filler))
    group_id = await add_group(services, fallback)
    device_ids = await add_devices(services, devices_count, store_id=store_id, group_id=group_id)
    schedule_id = await add_schedule(
        services,
        target_type=TargetType.GROUP,
        target_id=group_id,
        playlist_id=promo_playlist,
        rules=WEEKDAYS_9_TO_17,
    )
    return World(store_id, group_id, device_ids, promo, promo_playlist, fallback, schedule_id)


async def plan_rows(services: Services) -> dict[uuid.UUID, Any]:
    from core.db.tables import playout_plans

    async with services.engine.connect() as conn:
        rows = (await conn.execute(sa.select(playout_plans))).all()
    return {row.device_id: row for row in rows}
