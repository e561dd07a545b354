"""The permission matrix of every content/programming mutation: ADMIN and OPERATOR may
write, VIEWER gets a typed PermissionDeniedError (and nothing is written or audited), and
without a token nothing runs at all."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.campaigns.models import CampaignInput
from core.campaigns.service import create_campaign
from core.content.service import create_content
from core.content.uploads import finalize_upload, request_upload
from core.db.enums import Role
from core.db.tables import audit_log
from core.kernel.actor import Actor
from core.playlists.items import add_item
from core.playlists.service import create_playlist
from core.schedules.models import ScheduleInput
from core.schedules.service import create_schedule
from tests.graphql_api.helpers import create_user_and_token, error_codes, gql, insert_group


@dataclass(frozen=True)
class World:
    """Fresh objects for one role's run, so every mutation can succeed for writers."""

    group_id: str
    content_id: str
    version_id: str
    pending_upload_id: str
    campaign_id: str
    playlist_id: str
    spare_playlist_id: str
    item_id: str
    spare_item_id: str
    schedule_id: str


async def build_world(services: Services, actor: Actor) -> World:
    group_id = await insert_group(services)
    content = await create_content(services, actor, name="Poster", content_type="image")
    data = b"poster " + uuid.uuid4().bytes
    digest = hashlib.sha256(data).hexdigest()
    done = await request_upload(
        services, actor, content.id, mime="image/png", size=len(data), sha256=digest, duration_ms=5
    )
    await services.storage.put_bytes(done.upload.storage_key, data, sha256=digest, size=len(data))
    version = await finalize_upload(services, actor, done.upload.id)
    more = data + b"2"
    more_digest = hashlib.sha256(more).hexdigest()
    pending = await request_upload(
        services,
        actor,
        content.id,
        mime="image/png",
        size=len(more),
        sha256=more_digest,
        duration_ms=5,
    )
    await services.storage.put_bytes(
        pending.upload.storage_key, more, sha256=more_digest, size=len(more)
    )
    campaign = await create_campaign(
        services, actor, CampaignInput("Acme", "Spring", date(2026, 3, 1), date(2026, 4, 1))
    )
    playlist = await create_playlist(services, actor, name="Loop")
    spare = await create_playlist(services, actor, name="Spare")
    item = await add_item(services, actor, playlist.id, content_id=content.id)
    spare_item = await add_item(services, actor, playlist.id, content_id=content.id)
    schedule = await create_schedule(
        services,
        actor,
        ScheduleInput(target_type="GROUP", target_id=group_id, playlist_id=playlist.id),
    )
    return World(
        group_id=str(group_id),
        content_id=str(content.id),
        version_id=str(version.id),
        pending_upload_id=str(pending.upload.id),
        campaign_id=str(campaign.id),
        playlist_id=str(playlist.id),
        spare_playlist_id=str(spare.id),
        item_id=str(item.id),
        spare_item_id=str(spare_item.id),
        schedule_id=str(schedule.id),
    )


def campaign_input() -> dict[str, Any]:
    return {"brandName": "B", "name": "N", "startDate": "2026-01-01", "endDate": "2026-02-01"}


def schedule_input(w: World) -> dict[str, Any]:
    return {"targetType": "GROUP", "targetId": w.group_id, "playlistId": w.playlist_id}


# (field, argument declarations, argument uses, variables for a world). Deletions come last.
MUTATIONS: list[tuple[str, str, str, Callable[[World], dict[str, Any]]]] = [
    (
        "createContent",
        "$input: CreateContentInput!",
        "input: $input",
        lambda w: {"input": {"name": "New", "type": "VIDEO"}},
    ),
    (
        "updateContent",
        "$id: UUID!, $input: UpdateContentInput!",
        "id: $id, input: $input",
        lambda w: {"id": w.content_id, "input": {"name": "Renamed"}},
    ),
    (
        "requestContentUpload",
        "$id: UUID!, $sha: String!",
        'contentId: $id, mime: "image/png", bytes: 5, sha256: $sha, durationMs: 1000',
        lambda w: {"id": w.content_id, "sha": uuid.uuid4().hex * 2},
    ),
    ("finalizeContentUpload", "$id: UUID!", "uploadId: $id", lambda w: {"id": w.pending_upload_id}),
    (
        "createCampaign",
        "$input: CampaignInput!",
        "input: $input",
        lambda w: {"input": campaign_input()},
    ),
    (
        "updateCampaign",
        "$id: UUID!, $input: CampaignInput!",
        "id: $id, input: $input",
        lambda w: {"id": w.campaign_id, "input": campaign_input()},
    ),
    (
        "createPlaylist",
        "$input: CreatePlaylistInput!",
        "input: $input",
        lambda w: {"input": {"name": "P"}},
    ),
    ("renamePlaylist", "$id: UUID!", 'id: $id, name: "R"', lambda w: {"id": w.playlist_id}),
    (
        "setPlaylistCampaign",
        "$id: UUID!, $c: UUID",
        "id: $id, campaignId: $c",
        lambda w: {"id": w.playlist_id, "c": w.campaign_id},
    ),
    (
        "setPlaylistItemVersion",
        "$id: UUID!, $v: UUID",
        "itemId: $id, contentVersionId: $v",
        lambda w: {"id": w.item_id, "v": w.version_id},
    ),
    ("removePlaylistItem", "$id: UUID!", "itemId: $id", lambda w: {"id": w.spare_item_id}),
    (
        "reorderPlaylistItems",
        "$id: UUID!, $items: [UUID!]!",
        "playlistId: $id, itemIds: $items",
        lambda w: {"id": w.playlist_id, "items": [w.item_id]},
    ),
    (
        "addPlaylistItem",
        "$input: AddPlaylistItemInput!",
        "input: $input",
        lambda w: {"input": {"playlistId": w.playlist_id, "contentId": w.content_id}},
    ),
    ("setPlaylistItemWeight", "$id: UUID!", "itemId: $id, weight: 4", lambda w: {"id": w.item_id}),
    (
        "createSchedule",
        "$input: ScheduleInput!",
        "input: $input",
        lambda w: {"input": schedule_input(w)},
    ),
    (
        "updateSchedule",
        "$id: UUID!, $input: ScheduleInput!",
        "id: $id, input: $input",
        lambda w: {"id": w.schedule_id, "input": {**schedule_input(w), "priority": 3}},
    ),
    (
        "setScheduleEnabled",
        "$id: UUID!",
        "id: $id, enabled: false",
        lambda w: {"id": w.schedule_id},
    ),
    ("deleteSchedule", "$id: UUID!", "id: $id", lambda w: {"id": w.schedule_id}),
    ("deletePlaylist", "$id: UUID!", "id: $id", lambda w: {"id": w.spare_playlist_id}),
    ("deleteCampaign", "$id: UUID!", "id: $id", lambda w: {"id": w.campaign_id}),
]
SUCCESS_TYPES = {
    "ContentSuccess",
    "ContentUploadTicket",
    "ContentVersionSuccess",
    "CampaignSuccess",
    "PlaylistSuccess",
    "PlaylistItemSuccess",
    "ScheduleSuccess",
    "DeleteSuccess",
}


def operation(field: str, declarations: str, arguments: str) -> str:
    return (
        f"mutation({declarations}) {{ {field}({arguments}) "
        "{ __typename ... on Error { code message } } }"
    )


async def audit_count(services: Services) -> int:
    async with services.engine.connect() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar_one()
        )


@pytest.mark.parametrize("role", [Role.ADMIN, Role.OPERATOR, Role.VIEWER])
async def test_every_mutation_against_role(
    api_client: httpx.AsyncClient, services: Services, role: Role
) -> None:
    owner = await create_user_and_token(services, Role.ADMIN)
    world = await build_world(services, Actor.user(owner.id, Role.ADMIN))
    user = await create_user_and_token(services, role)
    for field, declarations, arguments, variables in MUTATIONS:
        before = await audit_count(services)
        body = await gql(
            api_client,
            operation(field, declarations, arguments),
            variables(world),
            token=user.token,
        )
        assert not body.get("errors"), (field, body)
        result = body["data"][field]
        if role is Role.VIEWER:
            assert result["__typename"] == "PermissionDeniedError", (field, result)
            assert result["code"] == "FORBIDDEN"
            assert await audit_count(services) == before, field
        else:
            assert result["__typename"] in SUCCESS_TYPES, (field, result)
            assert await audit_count(services) == before + 1, field


async def test_no_token_means_no_mutation(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    owner = await create_user_and_token(services, Role.ADMIN)
    world = await build_world(services, Actor.user(owner.id, Role.ADMIN))
    before = await audit_count(services)
    for field, declarations, arguments, variables in MUTATIONS:
        body = await gql(api_client, operation(field, declarations, arguments), variables(world))
        assert error_codes(body) == ["UNAUTHENTICATED"], (field, body)
        assert body["data"] is None, field
    assert await audit_count(services) == before


def test_the_matrix_covers_every_mutation_of_these_domains() -> None:
    from strawberry.utils.str_converters import to_camel_case

    from graphql_api.content import DOMAIN as content_domain
    from graphql_api.programming import DOMAIN as programming_domain

    declared = {
        to_camel_case(f.python_name)
        for domain in (content_domain, programming_domain)
        for f in domain.mutation.__strawberry_definition__.fields  # type: ignore[union-attr]
    }
    assert declared == {field for field, *_ in MUTATIONS}
