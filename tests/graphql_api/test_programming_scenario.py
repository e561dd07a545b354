"""The console developer's first session, end to end over HTTP: log in, create a store, a
group, content with an uploaded version, a campaign, a playlist and a schedule; see them all
listed, and see each change in the audit log."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.bootstrap import Services
from core.db.enums import Role
from tests.graphql_api.helpers import TEST_PASSWORD, create_user, gql_data, login

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8

STEPS = """
mutation Setup {
  createStore(input: {name: "Berlin Mitte", timezone: "Europe/Berlin"}) {
    __typename ... on StoreSuccess { store { id } }
  }
  createDeviceGroup(input: {name: "Window screens"}) {
    __typename ... on DeviceGroupSuccess { group { id } }
  }
  createContent(input: {name: "Spring poster", type: IMAGE, tags: ["spring"]}) {
    __typename ... on ContentSuccess { content { id } }
  }
  createCampaign(input: {brandName: "Acme", name: "Spring", startDate: "2026-03-01",
                         endDate: "2026-05-31"}) {
    __typename ... on CampaignSuccess { campaign { id } }
  }
}
"""
UPLOAD = """
mutation($contentId: UUID!, $bytes: BigInt!, $sha: String!) {
  requestContentUpload(contentId: $contentId, mime: "image/png", bytes: $bytes, sha256: $sha,
                       durationMs: 8000) {
    __typename ... on ContentUploadTicket { url method headers { name value } upload { id } }
  }
}
"""
FINALIZE = """
mutation($id: UUID!) {
  finalizeContentUpload(uploadId: $id) {
    __typename ... on ContentVersionSuccess { version { id versionNumber } }
  }
}
"""
PROGRAM = """
mutation($campaignId: UUID!) {
  createPlaylist(input: {name: "Spring loop", campaignId: $campaignId}) {
    __typename ... on PlaylistSuccess { playlist { id } }
  }
}
"""
ITEM_AND_SCHEDULE = """
mutation($playlistId: UUID!, $contentId: UUID!, $groupId: UUID!, $campaignId: UUID!) {
  addPlaylistItem(input: {playlistId: $playlistId, contentId: $contentId}) {
    __typename ... on PlaylistItemSuccess { item { id } }
  }
  createSchedule(input: {
    name: "Opening hours", targetType: GROUP, targetId: $groupId, playlistId: $playlistId,
    campaignId: $campaignId, priority: 10,
    rules: {dayparts: [{weekdays: [1, 2, 3, 4, 5, 6], start: "09:00", end: "21:00"}]}
  }) {
    __typename ... on ScheduleSuccess { schedule { id } }
  }
}
"""
EVERYTHING = """
{
  stores { nodes { name timezone } }
  deviceGroups { nodes { name } }
  contents { nodes { name latestVersion { versionNumber mime } } }
  campaigns { nodes { name brandName } }
  playlists {
    nodes { name campaign { name } items { content { name } version { versionNumber } } }
  }
  schedules {
    nodes {
      name priority timezone
      target { ... on DeviceGroup { name } }
      playlist { name }
      rules { dayparts { weekdays start end } }
    }
  }
  auditLog(first: 50) { nodes { action targetType actorUserId } }
}
"""


def ok(result: dict[str, Any], typename: str) -> dict[str, Any]:
    assert result["__typename"] == typename, result
    return result


async def test_console_developer_first_session(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user_id, email = await create_user(services, role=Role.OPERATOR)
    session = await login(api_client, email, TEST_PASSWORD)
    token = session["accessToken"]
    sha = hashlib.sha256(PNG).hexdigest()

    setup = await gql_data(api_client, STEPS, token=token)
    ok(setup["createStore"], "StoreSuccess")
    group_id = ok(setup["createDeviceGroup"], "DeviceGroupSuccess")["group"]["id"]
    content_id = ok(setup["createContent"], "ContentSuccess")["content"]["id"]
    campaign_id = ok(setup["createCampaign"], "CampaignSuccess")["campaign"]["id"]

    ticket = ok(
        (
            await gql_data(
                api_client,
                UPLOAD,
                {"contentId": content_id, "bytes": len(PNG), "sha": sha},
                token=token,
            )
        )["requestContentUpload"],
        "ContentUploadTicket",
    )
    url = urlsplit(ticket["url"])
    put = await api_client.request(
        ticket["method"],
        f"{url.path}?{url.query}",
        content=PNG,
        headers={h["name"]: h["value"] for h in ticket["headers"]},
    )
    assert put.status_code == 201, put.text
    finalized = await gql_data(api_client, FINALIZE, {"id": ticket["upload"]["id"]}, token=token)
    ok(finalized["finalizeContentUpload"], "ContentVersionSuccess")

    playlist = await gql_data(api_client, PROGRAM, {"campaignId": campaign_id}, token=token)
    playlist_id = ok(playlist["createPlaylist"], "PlaylistSuccess")["playlist"]["id"]
    programmed = await gql_data(
        api_client,
        ITEM_AND_SCHEDULE,
        {
            "playlistId": playlist_id,
            "contentId": content_id,
            "groupId": group_id,
            "campaignId": campaign_id,
        },
        token=token,
    )
    ok(programmed["addPlaylistItem"], "PlaylistItemSuccess")
    ok(programmed["createSchedule"], "ScheduleSuccess")

    seen = await gql_data(api_client, EVERYTHING, token=token)
    assert seen["stores"]["nodes"] == [{"name": "Berlin Mitte", "timezone": "Europe/Berlin"}]
    assert seen["deviceGroups"]["nodes"] == [{"name": "Window screens"}]
    assert seen["contents"]["nodes"] == [
        {"name": "Spring poster", "latestVersion": {"versionNumber": 1, "mime": "image/png"}}
    ]
    assert seen["campaigns"]["nodes"] == [{"name": "Spring", "brandName": "Acme"}]
    assert seen["playlists"]["nodes"] == [
        {
            "name": "Spring loop",
            "campaign": {"name": "Spring"},
            "items": [{"content": {"name": "Spring poster"}, "version": {"versionNumber": 1}}],
        }
    ]
    assert seen["schedules"]["nodes"] == [
        {
            "name": "Opening hours",
            "priority": 10,
            "timezone": None,
            "target": {"name": "Window screens"},
            "playlist": {"name": "Spring loop"},
            "rules": {
                "dayparts": [{"weekdays": [1, 2, 3, 4, 5, 6], "start": "09:00", "end": "21:00"}]
            },
        }
    ]
    entries = seen["auditLog"]["nodes"]
    changes = [e["action"] for e in reversed(entries) if e["actorUserId"] == str(user_id)]
    assert [a for a in changes if not a.startswith("auth.")] == [
        "store.create",
        "group.create",
        "content.create",
        "campaign.create",
        "content.upload_request",
        "content.version_create",
        "playlist.create",
        "playlist.item_add",
        "schedule.create",
    ]
