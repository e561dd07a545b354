"""Playlists and items: CRUD, dense ordering, permutation-checked reorders, weights, pins."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.campaigns.models import CampaignInput
from core.campaigns.service import create_campaign
from core.content.models import Content, ContentVersion
from core.content.service import create_content
from core.content.uploads import finalize_upload, request_upload
from core.db.tables import device_groups, playlists
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.kernel.actor import Actor
from core.playlists.items import (
    add_item,
    remove_item,
    reorder_items,
    set_item_version,
    set_item_weight,
)
from core.playlists.models import PlaylistFilter
from core.playlists.queries import items_by_playlist_ids, playlists_query
from core.playlists.service import (
    PlaylistInUse,
    create_playlist,
    delete_playlist,
    rename_playlist,
    set_playlist_campaign,
)
from core.schedules.models import ScheduleInput
from core.schedules.service import create_schedule
from core.storage import ObjectStorage
from tests.core_programming.conftest import Fleet, PlanInputsListener
from tests.core_programming.helpers import audit_rows, sha


async def make_version(
    services: Services, storage: ObjectStorage, actor: Actor, item: Content, data: bytes
) -> ContentVersion:
    ticket = await request_upload(
        services,
        actor,
        item.id,
        mime="image/png",
        size=len(data),
        sha256=sha(data),
        duration_ms=8000,
    )
    await storage.put_bytes(ticket.upload.storage_key, data, sha256=sha(data), size=len(data))
    return await finalize_upload(services, actor, ticket.upload.id)


@pytest.fixture
async def images(services: Services, admin: Actor) -> list[Content]:
    return [
        await create_content(services, admin, name=f"Image {n}", content_type="image")
        for n in range(3)
    ]


async def order_of(services: Services, playlist_id: uuid.UUID) -> list[tuple[uuid.UUID, int]]:
    async with services.engine.connect() as conn:
        items = (await items_by_playlist_ids(conn, [playlist_id]))[playlist_id]
    return [(item.id, item.order_index) for item in items]


async def test_playlist_crud_and_audit(
    services: Services, admin: Actor, plan_inputs: PlanInputsListener
) -> None:
    campaign = await create_campaign(
        services, admin, CampaignInput("Acme", "Spring", date(2026, 3, 1), date(2026, 4, 1))
    )
    created = await create_playlist(services, admin, name=" Lobby ", campaign_id=campaign.id)
    assert (created.name, created.campaign_id) == ("Lobby", campaign.id)
    renamed = await rename_playlist(services, admin, created.id, name="Lobby loop")
    assert renamed.name == "Lobby loop"
    assert await plan_inputs.drain() == []  # names never reach a plan
    detached = await set_playlist_campaign(services, admin, created.id, campaign_id=None)
    assert detached.campaign_id is None
    assert await plan_inputs.drain() == [{"kind": "playlist", "ids": [str(created.id)]}]
    await delete_playlist(services, admin, created.id)
    actions = [row.action for row in await audit_rows(services) if row.target_type == "playlist"]
    assert actions == [
        "playlist.create",
        "playlist.rename",
        "playlist.set_campaign",
        "playlist.delete",
    ]


async def test_playlist_errors(services: Services, admin: Actor) -> None:
    with pytest.raises(ValidationFailed) as info:
        await create_playlist(services, admin, name="  ")
    assert info.value.errors[0]["field"] == "name"
    with pytest.raises(NotFound) as nf:
        await create_playlist(services, admin, name="x", campaign_id=uuid.uuid4())
    assert nf.value.field == "campaignId"
    with pytest.raises(NotFound) as nf:
        await rename_playlist(services, admin, uuid.uuid4(), name="x")
    assert nf.value.field == "id"
    created = await create_playlist(services, admin, name="x")
    with pytest.raises(NotFound) as nf:
        await set_playlist_campaign(services, admin, created.id, campaign_id=uuid.uuid4())
    assert nf.value.field == "campaignId"


async def test_delete_refused_while_in_use(services: Services, admin: Actor, fleet: Fleet) -> None:
    scheduled = await create_playlist(services, admin, name="Scheduled")
    await create_schedule(
        services,
        admin,
        ScheduleInput(target_type="GROUP", target_id=fleet.group_id, playlist_id=scheduled.id),
    )
    with pytest.raises(PlaylistInUse) as info:
        await delete_playlist(services, admin, scheduled.id)
    assert info.value.details["schedules"] == 1
    fallback = await create_playlist(services, admin, name="Fallback")
    async with services.engine.begin() as conn:
        await conn.execute(
            sa.update(device_groups)
            .where(device_groups.c.id == fleet.group_id)
            .values(default_playlist_id=fallback.id)
        )
    with pytest.raises(PlaylistInUse) as info:
        await delete_playlist(services, admin, fallback.id)
    assert info.value.details["groups"] == 1
    async with services.engine.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(playlists))).scalar()
    assert count == 2


async def test_items_add_remove_keep_a_dense_order(
    services: Services,
    admin: Actor,
    storage: ObjectStorage,
    images: list[Content],
    plan_inputs: PlanInputsListener,
) -> None:
    playlist = await create_playlist(services, admin, name="Loop")
    version = await make_version(services, storage, admin, images[0], b"png-1")
    await plan_inputs.drain()
    pinned = await add_item(
        services, admin, playlist.id, content_id=images[0].id, content_version_id=version.id
    )
    follow = await add_item(services, admin, playlist.id, content_id=images[1].id, weight=3)
    last = await add_item(services, admin, playlist.id, content_id=images[2].id, duration_ms=5000)
    assert (pinned.content_version_id, follow.content_version_id) == (version.id, None)
    assert (follow.weight, last.duration_ms) == (3, 5000)
    assert await order_of(services, playlist.id) == [(pinned.id, 0), (follow.id, 1), (last.id, 2)]

    await remove_item(services, admin, follow.id)
    assert await order_of(services, playlist.id) == [(pinned.id, 0), (last.id, 1)]
    messages = await plan_inputs.drain()
    assert messages == [{"kind": "playlist", "ids": [str(playlist.id)]}] * 4
    actions = [
        row.action for row in await audit_rows(services) if row.action.startswith("playlist.item")
    ]
    assert actions == ["playlist.item_add"] * 3 + ["playlist.item_remove"]
    with pytest.raises(NotFound) as info:
        await remove_item(services, admin, follow.id)
    assert info.value.field == "itemId"


async def test_add_item_errors(
    services: Services, admin: Actor, storage: ObjectStorage, images: list[Content]
) -> None:
    playlist = await create_playlist(services, admin, name="Loop")
    other_version = await make_version(services, storage, admin, images[1], b"png-other")
    with pytest.raises(ValidationFailed) as info:
        await add_item(
            services, admin, playlist.id, content_id=images[0].id, weight=0, duration_ms=-1
        )
    assert {e["field"] for e in info.value.errors} == {"weight", "durationMs"}
    with pytest.raises(NotFound) as nf:
        await add_item(services, admin, uuid.uuid4(), content_id=images[0].id)
    assert nf.value.field == "playlistId"
    with pytest.raises(NotFound) as nf:
        await add_item(services, admin, playlist.id, content_id=uuid.uuid4())
    assert nf.value.field == "contentId"
    with pytest.raises(NotFound) as nf:
        await add_item(
            services, admin, playlist.id, content_id=images[0].id, content_version_id=uuid.uuid4()
        )
    assert nf.value.field == "contentVersionId"
    with pytest.raises(ValidationFailed) as info:
        await add_item(
            services,
            admin,
            playlist.id,
            content_id=images[0].id,
            content_version_id=other_version.id,
        )
    assert info.value.errors[0]["field"] == "contentVersionId"


async def test_reorder_is_a_checked_permutation(
    services: Services, admin: Actor, images: list[Content]
) -> None:
    playlist = await create_playlist(services, admin, name="Loop")
    ids = [
        (await add_item(services, admin, playlist.id, content_id=image.id)).id for image in images
    ]
    reordered = await reorder_items(services, admin, playlist.id, [ids[2], ids[0], ids[1]])
    assert [(i.id, i.order_index) for i in reordered] == [(ids[2], 0), (ids[0], 1), (ids[1], 2)]
    [row] = await audit_rows(services, "playlist.reorder")
    assert row.details_json["before"]["item_ids"] == [str(i) for i in ids]

    stranger = uuid.uuid4()
    with pytest.raises(ValidationFailed) as info:
        await reorder_items(services, admin, playlist.id, [ids[0], ids[0], stranger])
    assert {(e["field"], e["code"]) for e in info.value.errors} == {
        ("itemIds[1]", "duplicate"),
        ("itemIds[2]", "not_in_playlist"),
        ("itemIds", "missing_items"),
    }
    assert [i for i, _ in await order_of(services, playlist.id)] == [ids[2], ids[0], ids[1]]
    with pytest.raises(NotFound):
        await reorder_items(services, admin, uuid.uuid4(), [])


async def test_weight_and_version_pins(
    services: Services, admin: Actor, storage: ObjectStorage, images: list[Content]
) -> None:
    playlist = await create_playlist(services, admin, name="Loop")
    item = await add_item(services, admin, playlist.id, content_id=images[0].id)
    heavier = await set_item_weight(services, admin, item.id, weight=7)
    assert heavier.weight == 7
    with pytest.raises(ValidationFailed) as info:
        await set_item_weight(services, admin, item.id, weight=0)
    assert info.value.errors[0] == {
        "field": "weight",
        "code": "out_of_range",
        "message": "weight must be 1..1000",
    }
    version = await make_version(services, storage, admin, images[0], b"png-a")
    pinned = await set_item_version(services, admin, item.id, content_version_id=version.id)
    assert pinned.content_version_id == version.id
    unpinned = await set_item_version(services, admin, item.id, content_version_id=None)
    assert unpinned.content_version_id is None
    foreign = await make_version(services, storage, admin, images[1], b"png-b")
    with pytest.raises(ValidationFailed):
        await set_item_version(services, admin, item.id, content_version_id=foreign.id)
    rows = await audit_rows(services, "playlist.item_set_version")
    assert [r.details_json["after"]["content_version_id"] for r in rows] == [str(version.id), None]


async def test_query_filters(services: Services, admin: Actor) -> None:
    campaign = await create_campaign(
        services, admin, CampaignInput("Acme", "Spring", date(2026, 3, 1), date(2026, 4, 1))
    )
    await create_playlist(services, admin, name="Lobby", campaign_id=campaign.id)
    await create_playlist(services, admin, name="Checkout")
    async with services.engine.connect() as conn:

        async def names(flt: PlaylistFilter) -> list[str]:
            rows = await conn.execute(playlists_query(flt).order_by(playlists.c.name))
            return [row.name for row in rows]

        assert await names(PlaylistFilter()) == ["Checkout", "Lobby"]
        assert await names(PlaylistFilter(campaign_id=campaign.id)) == ["Lobby"]
        assert await names(PlaylistFilter(search="check")) == ["Checkout"]


async def test_viewer_cannot_write(
    services: Services, admin: Actor, viewer: Actor, images: list[Content]
) -> None:
    playlist = await create_playlist(services, admin, name="Loop")
    item = await add_item(services, admin, playlist.id, content_id=images[0].id)
    attempts = [
        create_playlist(services, viewer, name="x"),
        rename_playlist(services, viewer, playlist.id, name="x"),
        set_playlist_campaign(services, viewer, playlist.id, campaign_id=None),
        delete_playlist(services, viewer, playlist.id),
        add_item(services, viewer, playlist.id, content_id=images[0].id),
        remove_item(services, viewer, item.id),
        reorder_items(services, viewer, playlist.id, [item.id]),
        set_item_weight(services, viewer, item.id, weight=2),
        set_item_version(services, viewer, item.id, content_version_id=None),
    ]
    for attempt in attempts:
        with pytest.raises(PermissionDenied):
            await attempt
