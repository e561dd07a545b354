"""Campaigns and playlists over real HTTP: CRUD, items, reorder, typed errors, audit rows."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log, content_versions
from core.plans.changes import plan_inputs_channel
from tests.graphql_api.helpers import ConsoleUser, create_user_and_token, gql_data
from tests.graphql_api.test_content import create as create_content
from tests.graphql_api.test_content import upload

CAMPAIGN = "id brandName name startDate endDate"
CREATE_CAMPAIGN = f"""
mutation($input: CampaignInput!) {{
  createCampaign(input: $input) {{
    __typename
    ... on CampaignSuccess {{ campaign {{ {CAMPAIGN} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
  }}
}}
"""
UPDATE_CAMPAIGN = f"""
mutation($id: UUID!, $input: CampaignInput!) {{
  updateCampaign(id: $id, input: $input) {{
    __typename
    ... on CampaignSuccess {{ campaign {{ {CAMPAIGN} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on Error {{ code field }}
  }}
}}
"""
DELETE_CAMPAIGN = """
mutation($id: UUID!) {
  deleteCampaign(id: $id) { __typename ... on DeleteSuccess { id } ... on Error { code field } }
}
"""
CAMPAIGNS = f"""
query($filter: CampaignFilter) {{ campaigns(filter: $filter) {{ nodes {{ {CAMPAIGN} }} }} }}
"""
PLAYLIST = """
id name campaign { name }
items { id orderIndex weight durationMs followsLatest contentVersionId
        content { name } version { versionNumber } }
"""
CREATE_PLAYLIST = f"""
mutation($input: CreatePlaylistInput!) {{
  createPlaylist(input: $input) {{
    __typename
    ... on PlaylistSuccess {{ playlist {{ {PLAYLIST} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on Error {{ code field }}
  }}
}}
"""
RENAME = f"""
mutation($id: UUID!, $name: String!) {{
  renamePlaylist(id: $id, name: $name) {{
    __typename
    ... on PlaylistSuccess {{ playlist {{ {PLAYLIST} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on Error {{ code field }}
  }}
}}
"""
SET_CAMPAIGN = f"""
mutation($id: UUID!, $campaignId: UUID) {{
  setPlaylistCampaign(id: $id, campaignId: $campaignId) {{
    __typename
    ... on PlaylistSuccess {{ playlist {{ {PLAYLIST} }} }}
    ... on Error {{ code field }}
  }}
}}
"""
DELETE_PLAYLIST = """
mutation($id: UUID!) {
  deletePlaylist(id: $id) { __typename ... on DeleteSuccess { id } ... on Error { code field } }
}
"""
ADD_ITEM = f"""
mutation($input: AddPlaylistItemInput!) {{
  addPlaylistItem(input: $input) {{
    __typename
    ... on PlaylistItemSuccess {{ item {{ id orderIndex weight }} playlist {{ {PLAYLIST} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on Error {{ code field }}
  }}
}}
"""
REMOVE_ITEM = f"""
mutation($itemId: UUID!) {{
  removePlaylistItem(itemId: $itemId) {{
    __typename
    ... on PlaylistSuccess {{ playlist {{ {PLAYLIST} }} }}
    ... on Error {{ code field }}
  }}
}}
"""
REORDER = f"""
mutation($playlistId: UUID!, $itemIds: [UUID!]!) {{
  reorderPlaylistItems(playlistId: $playlistId, itemIds: $itemIds) {{
    __typename
    ... on PlaylistSuccess {{ playlist {{ {PLAYLIST} }} }}
    ... on ValidationError {{ errors {{ field code }} }}
    ... on Error {{ code field }}
  }}
}}
"""
SET_WEIGHT = """
mutation($itemId: UUID!, $weight: Int!) {
  setPlaylistItemWeight(itemId: $itemId, weight: $weight) {
    __typename
    ... on PlaylistItemSuccess { item { id weight } }
    ... on ValidationError { errors { field code } }
    ... on Error { code field }
  }
}
"""
SET_VERSION = """
mutation($itemId: UUID!, $versionId: UUID) {
  setPlaylistItemVersion(itemId: $itemId, contentVersionId: $versionId) {
    __typename
    ... on PlaylistItemSuccess { item { id followsLatest version { versionNumber } } }
    ... on ValidationError { errors { field code } }
    ... on Error { code field }
  }
}
"""
PLAYLISTS = f"""
query($filter: PlaylistFilter) {{ playlists(filter: $filter) {{ nodes {{ {PLAYLIST} }} }} }}
"""


async def run(
    client: httpx.AsyncClient, user: ConsoleUser, query: str, **variables: Any
) -> dict[str, Any]:
    data = await gql_data(client, query, variables, token=user.token)
    [result] = data.values()
    assert isinstance(result, dict)
    return result


async def actions(services: Services) -> list[str]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id))
        return list(rows.scalars())


async def test_campaign_lifecycle(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    spring = {
        "brandName": "Acme",
        "name": "Spring",
        "startDate": "2026-03-01",
        "endDate": "2026-05-31",
    }
    created = await run(api_client, user, CREATE_CAMPAIGN, input=spring)
    campaign = created["campaign"]
    assert campaign["startDate"] == "2026-03-01"
    await run(
        api_client,
        user,
        CREATE_CAMPAIGN,
        input={
            "brandName": "Globex",
            "name": "Winter",
            "startDate": "2026-12-01",
            "endDate": "2027-01-31",
        },
    )
    updated = await run(
        api_client,
        user,
        UPDATE_CAMPAIGN,
        id=campaign["id"],
        input={**spring, "name": "Spring sale"},
    )
    assert updated["campaign"]["name"] == "Spring sale"

    async def listed(**flt: Any) -> list[str]:
        data = await gql_data(api_client, CAMPAIGNS, {"filter": flt}, token=user.token)
        return [c["name"] for c in data["campaigns"]["nodes"]]

    assert await listed() == ["Spring sale", "Winter"]
    assert await listed(search="glob") == ["Winter"]
    assert await listed(activeOn="2026-04-01") == ["Spring sale"]

    bad = await run(
        api_client,
        user,
        CREATE_CAMPAIGN,
        input={"brandName": " ", "name": "x", "startDate": "2026-05-01", "endDate": "2026-04-01"},
    )
    assert bad["__typename"] == "ValidationError"
    assert {(e["field"], e["code"]) for e in bad["errors"]} == {
        ("brandName", "REQUIRED"),
        ("endDate", "INVALID_DATE_RANGE"),
    }
    deleted = await run(api_client, user, DELETE_CAMPAIGN, id=campaign["id"])
    assert deleted == {"__typename": "DeleteSuccess", "id": campaign["id"]}
    gone = await run(api_client, user, DELETE_CAMPAIGN, id=campaign["id"])
    assert (gone["__typename"], gone["field"]) == ("NotFoundError", "id")
    missing = await run(api_client, user, UPDATE_CAMPAIGN, id=campaign["id"], input=spring)
    assert missing["__typename"] == "NotFoundError"
    assert await actions(services) == [
        "campaign.create",
        "campaign.create",
        "campaign.update",
        "campaign.delete",
    ]


async def test_playlist_and_items(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    campaign = (
        await run(
            api_client,
            user,
            CREATE_CAMPAIGN,
            input={
                "brandName": "Acme",
                "name": "Spring",
                "startDate": "2026-03-01",
                "endDate": "2026-05-31",
            },
        )
    )["campaign"]
    poster = (await create_content(api_client, user, name="Poster", type="IMAGE"))["content"]
    clip = (await create_content(api_client, user, name="Clip", type="VIDEO"))["content"]
    v1 = (await upload(api_client, user, poster["id"], b"poster-1", "image/png", 6000))["version"]
    await upload(api_client, user, poster["id"], b"poster-2", "image/png", 6000)
    await upload(api_client, user, clip["id"], b"clip-1", "video/mp4")

    created = await run(
        api_client, user, CREATE_PLAYLIST, input={"name": "Lobby", "campaignId": campaign["id"]}
    )
    playlist = created["playlist"]
    assert (playlist["campaign"], playlist["items"]) == ({"name": "Spring"}, [])
    pid = playlist["id"]

    pinned = await run(
        api_client,
        user,
        ADD_ITEM,
        input={"playlistId": pid, "contentId": poster["id"], "contentVersionId": v1["id"]},
    )
    follow = await run(
        api_client,
        user,
        ADD_ITEM,
        input={"playlistId": pid, "contentId": poster["id"], "weight": 2},
    )
    video = await run(
        api_client,
        user,
        ADD_ITEM,
        input={"playlistId": pid, "contentId": clip["id"], "durationMs": 15000},
    )
    items = video["playlist"]["items"]
    assert [
        (i["orderIndex"], i["followsLatest"], i["version"]["versionNumber"]) for i in items
    ] == [
        (0, False, 1),
        (1, True, 2),
        (2, True, 1),
    ]
    assert [i["content"]["name"] for i in items] == ["Poster", "Poster", "Clip"]
    ids = [pinned["item"]["id"], follow["item"]["id"], video["item"]["id"]]

    reordered = await run(
        api_client, user, REORDER, playlistId=pid, itemIds=[ids[2], ids[0], ids[1]]
    )
    assert [i["id"] for i in reordered["playlist"]["items"]] == [ids[2], ids[0], ids[1]]
    not_permutation = await run(api_client, user, REORDER, playlistId=pid, itemIds=[ids[0], ids[0]])
    assert not_permutation["__typename"] == "ValidationError"
    assert {(e["field"], e["code"]) for e in not_permutation["errors"]} == {
        ("itemIds[1]", "DUPLICATE"),
        ("itemIds", "MISSING_ITEMS"),
    }

    weighted = await run(api_client, user, SET_WEIGHT, itemId=ids[1], weight=5)
    assert weighted["item"]["weight"] == 5
    zero = await run(api_client, user, SET_WEIGHT, itemId=ids[1], weight=0)
    assert zero["errors"] == [{"field": "weight", "code": "OUT_OF_RANGE"}]

    repinned = await run(api_client, user, SET_VERSION, itemId=ids[1], versionId=v1["id"])
    assert repinned["item"] == {
        "id": ids[1],
        "followsLatest": False,
        "version": {"versionNumber": 1},
    }
    unpinned = await run(api_client, user, SET_VERSION, itemId=ids[1], versionId=None)
    assert unpinned["item"]["followsLatest"] is True
    foreign = await run(api_client, user, SET_VERSION, itemId=ids[2], versionId=v1["id"])
    assert foreign["__typename"] == "ValidationError"

    removed = await run(api_client, user, REMOVE_ITEM, itemId=ids[2])
    assert [(i["id"], i["orderIndex"]) for i in removed["playlist"]["items"]] == [
        (ids[0], 0),
        (ids[1], 1),
    ]
    renamed = await run(api_client, user, RENAME, id=pid, name="Lobby loop")
    assert renamed["playlist"]["name"] == "Lobby loop"
    detached = await run(api_client, user, SET_CAMPAIGN, id=pid, campaignId=None)
    assert detached["playlist"]["campaign"] is None

    listed = await gql_data(api_client, PLAYLISTS, {"filter": {"search": "loop"}}, token=user.token)
    assert [p["name"] for p in listed["playlists"]["nodes"]] == ["Lobby loop"]
    deleted = await run(api_client, user, DELETE_PLAYLIST, id=pid)
    assert deleted["__typename"] == "DeleteSuccess"
    playlist_actions = [a for a in await actions(services) if a.startswith("playlist.")]
    assert playlist_actions == [
        "playlist.create",
        "playlist.item_add",
        "playlist.item_add",
        "playlist.item_add",
        "playlist.reorder",
        "playlist.item_set_weight",
        "playlist.item_set_version",
        "playlist.item_set_version",
        "playlist.item_remove",
        "playlist.rename",
        "playlist.set_campaign",
        "playlist.delete",
    ]
    async with services.engine.connect() as conn:  # deleting a playlist keeps the versions
        assert (
            await conn.execute(sa.select(sa.func.count()).select_from(content_versions))
        ).scalar() == 3


async def test_playlist_typed_errors(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    nowhere = str(uuid.uuid4())
    blank = await run(api_client, user, CREATE_PLAYLIST, input={"name": "  "})
    assert blank["errors"] == [{"field": "name", "code": "REQUIRED"}]
    no_campaign = await run(
        api_client, user, CREATE_PLAYLIST, input={"name": "x", "campaignId": nowhere}
    )
    assert (no_campaign["__typename"], no_campaign["field"]) == ("NotFoundError", "campaignId")
    pid = (await run(api_client, user, CREATE_PLAYLIST, input={"name": "x"}))["playlist"]["id"]
    no_content = await run(
        api_client, user, ADD_ITEM, input={"playlistId": pid, "contentId": nowhere}
    )
    assert (no_content["__typename"], no_content["field"]) == ("NotFoundError", "contentId")
    for query, variables in [
        (RENAME, {"id": nowhere, "name": "y"}),
        (SET_CAMPAIGN, {"id": nowhere, "campaignId": None}),
        (DELETE_PLAYLIST, {"id": nowhere}),
        (REMOVE_ITEM, {"itemId": nowhere}),
        (REORDER, {"playlistId": nowhere, "itemIds": []}),
        (SET_WEIGHT, {"itemId": nowhere, "weight": 3}),
        (SET_VERSION, {"itemId": nowhere, "versionId": None}),
    ]:
        result = await run(api_client, user, query, **variables)
        assert result["__typename"] == "NotFoundError", (query, result)


async def test_item_changes_reach_the_plan_inputs_channel(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.OPERATOR)
    pubsub = services.redis.pubsub()
    await pubsub.subscribe(plan_inputs_channel(services.keys))
    try:
        await pubsub.get_message(timeout=1.0)
        content = (await create_content(api_client, user, name="Clip", type="VIDEO"))["content"]
        pid = (await run(api_client, user, CREATE_PLAYLIST, input={"name": "x"}))["playlist"]["id"]
        await run(api_client, user, ADD_ITEM, input={"playlistId": pid, "contentId": content["id"]})
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=2.0)
        assert message is not None
        assert message["data"] == f'{{"kind":"playlist","ids":["{pid}"]}}'.encode()
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
