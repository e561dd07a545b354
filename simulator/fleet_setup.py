"""What a run needs on the server, created the way an operator would, through the console API:
a device group, a campaign with a playlist of uploaded images scheduled on the group all day,
stores holding `devices_per_store` players each, and pre-assigned pairing claims (the
installer flow) for every player.

Why many stores: proof-of-play aggregates are kept per store, content and day, and updated in
the ingest transaction. A whole fleet in one store would make every upload contend for the
same few aggregate rows, which no real fleet does.

A run named like an earlier one (`--name`) reuses its group, campaign and stores (creating
any stores it lacks), so repeated runs pile their devices into one place; the final check
then compares what changed during the run, not the campaign's lifetime totals.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from simulator.config import ContentSpec, SimulationConfig
from simulator.console import ERROR_FIELDS, ConsoleClient, ConsoleError
from simulator.transport import FleetHttp

CLAIMS_PER_CALL = 500  # the console's limit per createDeviceClaims call
SETUP_PARALLELISM = 8
T = TypeVar("T")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class FleetPlacement:
    group_id: str
    campaign_id: str
    store_ids: tuple[str, ...]
    reused: bool


def _today() -> date:
    return datetime.now(UTC).date()


async def _find_exact(console: ConsoleClient, connection: str, name: str) -> str | None:
    data = await console.execute(
        f"query($n: String!) {{ {connection}(filter: {{search: $n}}, first: 100) "
        "{ nodes { id name } } }",
        {"n": name},
    )
    for node in data[connection]["nodes"]:
        if node["name"] == name:
            return str(node["id"])
    return None


async def _stores_named(console: ConsoleClient, prefix: str) -> dict[str, str]:
    """Every store whose name starts with `prefix`, name -> id (paginated search)."""
    found: dict[str, str] = {}
    after: str | None = None
    while True:
        data = await console.execute(
            "query($n: String!, $a: String) { stores(filter: {search: $n}, first: 100, after: $a)"
            " { nodes { id name } pageInfo { hasNextPage endCursor } } }",
            {"n": prefix, "a": after},
        )
        page = data["stores"]
        found.update(
            {n["name"]: str(n["id"]) for n in page["nodes"] if n["name"].startswith(prefix)}
        )
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


async def _gathered(calls: Sequence[Awaitable[T]], parallel: int = SETUP_PARALLELISM) -> list[T]:
    """Run setup calls a few at a time (the console API is not what is being measured)."""
    gate = asyncio.Semaphore(parallel)

    async def one(call: Awaitable[T]) -> T:
        async with gate:
            return await call

    return list(await asyncio.gather(*(one(call) for call in calls)))


async def ensure_stores(
    console: ConsoleClient, config: SimulationConfig, name: str, count: int
) -> tuple[str, ...]:
    """Stores `<name> store 0000` .. `count - 1`: the existing ones, plus the missing ones."""
    names = [f"{name} store {i:04d}" for i in range(count)]
    existing = await _stores_named(console, f"{name} store ")
    missing = [n for n in names if n not in existing]
    created = await _gathered(
        [
            console.mutate(
                "mutation($i: CreateStoreInput!) { createStore(input: $i) { __typename"
                f" ... on StoreSuccess {{ store {{ id }} }} {ERROR_FIELDS} }} }}",
                "createStore",
                "StoreSuccess",
                {"i": {"name": n, "timezone": config.timezone, "city": "Simulated"}},
            )
            for n in missing
        ]
    )
    existing.update({n: str(r["store"]["id"]) for n, r in zip(missing, created, strict=True)})
    return tuple(existing[n] for n in names)


async def upload_image(
    console: ConsoleClient, http: FleetHttp, name: str, spec: ContentSpec
) -> str:
    """Create an IMAGE content item and upload one version (request, PUT, finalize)."""
    content = await console.mutate(
        "mutation($i: CreateContentInput!) { createContent(input: $i) { __typename"
        f" ... on ContentSuccess {{ content {{ id }} }} {ERROR_FIELDS} }} }}",
        "createContent",
        "ContentSuccess",
        {"i": {"name": f"{name} {spec.name}", "type": "IMAGE", "tags": ["simulator"]}},
    )
    content_id = str(content["content"]["id"])
    data = PNG_SIGNATURE + os.urandom(512)  # unique bytes: a new version every run
    ticket = await console.mutate(
        "mutation($c: UUID!, $m: String!, $b: BigInt!, $s: String!, $d: Int) {"
        " requestContentUpload(contentId: $c, mime: $m, bytes: $b, sha256: $s, durationMs: $d)"
        " { __typename ... on ContentUploadTicket { upload { id } url method"
        f" headers {{ name value }} }} {ERROR_FIELDS} }} }}",
        "requestContentUpload",
        "ContentUploadTicket",
        {
            "c": content_id,
            "m": "image/png",
            "b": len(data),
            "s": hashlib.sha256(data).hexdigest(),
            "d": spec.duration_ms,
        },
    )
    headers = {h["name"]: h["value"] for h in ticket["headers"]}
    put = await http.client.request(ticket["method"], ticket["url"], content=data, headers=headers)
    if put.status_code >= 300:
        raise ConsoleError(f"upload of {spec.name} answered HTTP {put.status_code}: {put.text}")
    await console.mutate(
        "mutation($u: UUID!) { finalizeContentUpload(uploadId: $u) { __typename"
        f" ... on ContentVersionSuccess {{ version {{ id }} }} {ERROR_FIELDS} }} }}",
        "finalizeContentUpload",
        "ContentVersionSuccess",
        {"u": ticket["upload"]["id"]},
    )
    return content_id


async def _program_group(
    console: ConsoleClient,
    http: FleetHttp,
    name: str,
    group_id: str,
    content: tuple[ContentSpec, ...],
) -> str:
    """A campaign's playlist of images, scheduled on the group all day, every day; returns
    the campaign's id."""
    today = _today()
    campaign = await console.mutate(
        "mutation($i: CampaignInput!) { createCampaign(input: $i) { __typename"
        f" ... on CampaignSuccess {{ campaign {{ id }} }} {ERROR_FIELDS} }} }}",
        "createCampaign",
        "CampaignSuccess",
        {
            "i": {
                "brandName": "Simulator",
                "name": name,
                "startDate": (today - timedelta(days=2)).isoformat(),
                "endDate": (today + timedelta(days=365)).isoformat(),
            }
        },
    )
    campaign_id = str(campaign["campaign"]["id"])
    playlist = await console.mutate(
        "mutation($i: CreatePlaylistInput!) { createPlaylist(input: $i) { __typename"
        f" ... on PlaylistSuccess {{ playlist {{ id }} }} {ERROR_FIELDS} }} }}",
        "createPlaylist",
        "PlaylistSuccess",
        {"i": {"name": name, "campaignId": campaign_id}},
    )
    playlist_id = playlist["playlist"]["id"]
    for spec in content:
        content_id = await upload_image(console, http, name, spec)
        await console.mutate(
            "mutation($i: AddPlaylistItemInput!) { addPlaylistItem(input: $i) { __typename"
            f" ... on PlaylistItemSuccess {{ item {{ id }} }} {ERROR_FIELDS} }} }}",
            "addPlaylistItem",
            "PlaylistItemSuccess",
            {"i": {"playlistId": playlist_id, "contentId": content_id}},
        )
    await console.mutate(
        "mutation($i: ScheduleInput!) { createSchedule(input: $i) { __typename"
        f" ... on ScheduleSuccess {{ schedule {{ id }} }} {ERROR_FIELDS} }} }}",
        "createSchedule",
        "ScheduleSuccess",
        {
            "i": {
                "targetType": "GROUP",
                "targetId": group_id,
                "playlistId": playlist_id,
                "campaignId": campaign_id,
                "name": name,
                "priority": 10,
            }
        },
    )
    return campaign_id


async def prepare_placement(
    console: ConsoleClient,
    http: FleetHttp,
    config: SimulationConfig,
    name: str,
    content: tuple[ContentSpec, ...],
) -> FleetPlacement:
    """The run's group, campaign and stores: reused under `name` when they exist."""
    await console.ensure_login()
    group_id = await _find_exact(console, "deviceGroups", name)
    campaign_id = await _find_exact(console, "campaigns", name)
    reused = group_id is not None and campaign_id is not None
    if reused:
        await console.mutate(
            "mutation($id: UUID!, $i: UpdateDeviceGroupInput!) {"
            " updateDeviceGroup(id: $id, input: $i) { __typename"
            f" ... on DeviceGroupSuccess {{ group {{ id }} }} {ERROR_FIELDS} }} }}",
            "updateDeviceGroup",
            "DeviceGroupSuccess",
            {"id": group_id, "i": {"heartbeatIntervalSeconds": config.heartbeat_interval_s}},
        )
    elif group_id is not None or campaign_id is not None:
        raise ConsoleError(f"a group or campaign named {name!r} exists alone; pick another --name")
    else:
        group = await console.mutate(
            "mutation($i: CreateDeviceGroupInput!) { createDeviceGroup(input: $i) { __typename"
            f" ... on DeviceGroupSuccess {{ group {{ id }} }} {ERROR_FIELDS} }} }}",
            "createDeviceGroup",
            "DeviceGroupSuccess",
            {"i": {"name": name, "heartbeatIntervalSeconds": config.heartbeat_interval_s}},
        )
        group_id = str(group["group"]["id"])
        campaign_id = await _program_group(console, http, name, group_id, content)
    assert group_id is not None and campaign_id is not None
    store_count = -(-config.devices // config.devices_per_store)
    store_ids = await ensure_stores(console, config, name, store_count)
    return FleetPlacement(group_id, campaign_id, store_ids, reused=reused)


CREATE_CLAIMS = (
    "mutation($s: UUID!, $g: UUID!, $n: [String!]) {"
    " createDeviceClaims(storeId: $s, groupId: $g, names: $n) { __typename"
    " ... on DeviceClaimsSuccess { claims { claimCode } }"
    f" {ERROR_FIELDS} }} }}"
)


async def create_claims(
    console: ConsoleClient, placement: FleetPlacement, names: list[str], per_store: int
) -> list[str]:
    """Pre-assigned installer codes, one per player: player i goes to store i // per_store.
    One console call per store (chunked to the console's limit), a few at a time."""
    calls = []
    for store_index, store_id in enumerate(placement.store_ids):
        store_names = names[store_index * per_store : (store_index + 1) * per_store]
        for start in range(0, len(store_names), CLAIMS_PER_CALL):
            chunk = store_names[start : start + CLAIMS_PER_CALL]
            variables = {"s": store_id, "g": placement.group_id, "n": chunk}
            calls.append(
                console.mutate(
                    CREATE_CLAIMS, "createDeviceClaims", "DeviceClaimsSuccess", variables
                )
            )
    results = await _gathered(calls)
    codes = [str(claim["claimCode"]) for result in results for claim in result["claims"]]
    if len(codes) != len(names):
        raise ConsoleError(f"asked for {len(names)} claims, got {len(codes)}")
    return codes
