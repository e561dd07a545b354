"""Rows and events for proof-of-play tests: real inserts, real uuids, no mocks."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import insert

from core.bootstrap import Services
from core.db.enums import TargetType
from core.db.tables import (
    campaigns,
    content,
    content_versions,
    devices,
    playlist_items,
    playlists,
    schedules,
    stores,
)
from core.plans import regenerate
from core.proof_of_play import DeviceContext, IngestPolicy, IngestResult, ingest_events
from core.security.tokens import TokenKind, TokenService


@dataclass
class World:
    """One store with one device, a video (30 s) and an image (no duration), a campaign, and
    a playlist of both scheduled for the device under the campaign, with the device's plan
    stored: what the device may report plays of."""

    store_id: uuid.UUID
    device_id: uuid.UUID
    timezone: str
    video_id: uuid.UUID
    image_id: uuid.UUID
    campaign_id: uuid.UUID
    playlist_id: uuid.UUID
    schedule_id: uuid.UUID | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def device(self) -> DeviceContext:
        return DeviceContext(self.device_id, self.store_id, self.timezone)


async def add_store(services: Services, timezone: str = "UTC", name: str = "Store") -> uuid.UUID:
    async with services.engine.begin() as conn:
        new_id: uuid.UUID = (
            await conn.execute(
                insert(stores).values(name=name, timezone=timezone).returning(stores.c.id)
            )
        ).scalar_one()
        return new_id


async def add_device(services: Services, store_id: uuid.UUID | None) -> uuid.UUID:
    async with services.engine.begin() as conn:
        new_id: uuid.UUID = (
            await conn.execute(
                insert(devices).values(store_id=store_id, status="online").returning(devices.c.id)
            )
        ).scalar_one()
        return new_id


async def add_content(
    services: Services, kind: str = "video", duration_ms: int | None = 30_000
) -> uuid.UUID:
    async with services.engine.begin() as conn:
        content_id: uuid.UUID = (
            await conn.execute(
                insert(content).values(name=f"{kind} item", type=kind).returning(content.c.id)
            )
        ).scalar_one()
        digest = hashlib.sha256(content_id.bytes).hexdigest()
        await conn.execute(
            insert(content_versions).values(
                content_id=content_id,
                version_number=1,
                version_hash=digest,
                storage_key=f"content/{content_id}/1",
                url=f"http://storage.test/{content_id}/1",
                sha256=digest,
                bytes=1000,
                mime="video/mp4" if kind == "video" else "image/png",
                duration_ms=duration_ms,
            )
        )
        return content_id


async def add_campaign(services: Services) -> uuid.UUID:
    async with services.engine.begin() as conn:
        new_id: uuid.UUID = (
            await conn.execute(
                insert(campaigns)
                .values(
                    name=f"campaign {uuid.uuid4().hex[:6]}",
                    brand_name="Brand",
                    start_date=date(2026, 1, 1),
                    end_date=date(2026, 12, 31),
                )
                .returning(campaigns.c.id)
            )
        ).scalar_one()
        return new_id


async def add_playlist(services: Services) -> uuid.UUID:
    async with services.engine.begin() as conn:
        new_id: uuid.UUID = (
            await conn.execute(insert(playlists).values(name="pl").returning(playlists.c.id))
        ).scalar_one()
        return new_id


async def add_to_playlist(
    services: Services, playlist_id: uuid.UUID, *content_ids: uuid.UUID
) -> None:
    async with services.engine.begin() as conn:
        for content_id in content_ids:
            await conn.execute(
                insert(playlist_items).values(
                    playlist_id=playlist_id, content_id=content_id, order_index=0
                )
            )


async def add_to_world(services: Services, world: World, *content_ids: uuid.UUID) -> None:
    """More content in the world's playlist, and the device's plan regenerated with it."""
    await add_to_playlist(services, world.playlist_id, *content_ids)
    await regenerate(services, [world.device_id])


async def schedule_for(
    services: Services,
    device_id: uuid.UUID,
    playlist_id: uuid.UUID,
    campaign_id: uuid.UUID | None = None,
) -> uuid.UUID:
    """An always-on schedule of the playlist for the device, and the device's plan
    regenerated: its items are what the device may report plays of."""
    async with services.engine.begin() as conn:
        schedule_id: uuid.UUID = (
            await conn.execute(
                insert(schedules)
                .values(
                    target_type=TargetType.DEVICE.value,
                    target_id=device_id,
                    playlist_id=playlist_id,
                    campaign_id=campaign_id,
                    rules_json={},
                )
                .returning(schedules.c.id)
            )
        ).scalar_one()
    await regenerate(services, [device_id])
    return schedule_id


async def make_world(
    services: Services, timezone: str = "UTC", *, campaign_id: uuid.UUID | None = None
) -> World:
    store_id = await add_store(services, timezone)
    world = World(
        store_id=store_id,
        device_id=await add_device(services, store_id),
        timezone=timezone,
        video_id=await add_content(services, "video", 30_000),
        image_id=await add_content(services, "image", None),
        campaign_id=campaign_id or await add_campaign(services),
        playlist_id=await add_playlist(services),
    )
    await add_to_playlist(services, world.playlist_id, world.video_id, world.image_id)
    world.schedule_id = await schedule_for(
        services, world.device_id, world.playlist_id, world.campaign_id
    )
    return world


def event(
    world: World,
    at: datetime,
    *,
    type: str = "PLAY_END",
    duration_ms: int | None = 30_000,
    result: str | None = "COMPLETED",
    content_id: uuid.UUID | None = None,
    campaign: bool = True,
    event_id: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "event_id": event_id or str(uuid.uuid4()),
        "type": type,
        "device_time": at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "playlist_id": str(world.playlist_id),
        "content_id": str(content_id or world.video_id),
        "content_version": 1,
    }
    if campaign:
        body["campaign_id"] = str(world.campaign_id)
    if type == "PLAY_END" or duration_ms is not None:
        body["duration_ms"] = duration_ms
    if type == "PLAY_END" or result is not None:
        body["result"] = result
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


async def ingest(
    services: Services,
    device: DeviceContext,
    events: list[Any],
    policy: IngestPolicy | None = None,
) -> IngestResult:
    async with services.uow() as uow:
        result = await ingest_events(
            uow.conn,
            device,
            events,
            clock=services.clock,
            policy=policy or IngestPolicy.from_settings(services.settings),
        )
        await uow.commit()
    return result


async def aggregate_rows(
    services: Services,
) -> dict[tuple[date, uuid.UUID, uuid.UUID, uuid.UUID], tuple[int, int, int, int]]:
    from core.db.tables import proof_of_play_aggregate_daily as agg

    async with services.engine.connect() as conn:
        rows = await conn.execute(agg.select())
        return {
            (r.day, r.campaign_id, r.store_id, r.content_id): (
                r.plays_count,
                r.completed_count,
                r.starts_count,
                r.total_duration_ms,
            )
            for r in rows
        }


async def raw_count(services: Services) -> int:
    from sqlalchemy import text

    async with services.engine.connect() as conn:
        return int(
            (await conn.execute(text("SELECT count(*) FROM proof_of_play_events"))).scalar_one()
        )


def device_auth(services: Services, device_id: uuid.UUID) -> dict[str, str]:
    """The Authorization header of a real device access token."""
    token, _ = TokenService(services.settings, services.clock).issue(
        TokenKind.DEVICE_ACCESS, str(device_id), ttl_s=900, extra={"epoch": 0}
    )
    return {"Authorization": f"Bearer {token}"}
