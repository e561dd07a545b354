"""Convergence through the real edge: the heartbeat's optional content reports and the sync
state they drive (docs/convergence.md), plan regeneration making devices PENDING, and the
`device-sync` events, over real HTTP, PostgreSQL and Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import SyncState
from core.db.tables import device_content_reports, devices, playout_plans
from core.devices.sync_events import SyncStateEvent, sync_channel
from core.devices.sync_state import MAX_CACHED_CONTENT, MAX_FAILED_CONTENT
from core.plans import PlanComputer, regenerate
from tests.conftest import T0
from tests.device_edge.conftest import HEARTBEAT, error_of
from tests.graphql_api.helpers import mint_device_token
from tests.plans.builders import World, add_version, make_world

PATH = "/v1/device/heartbeat"


@pytest.fixture
async def subscriber(services: Services) -> AsyncIterator[Any]:
    """A real Redis subscriber on the sync channel, as the API processes run one."""
    client = aioredis.Redis.from_url(services.settings.redis_url or "")
    pubsub = client.pubsub()
    await pubsub.subscribe(sync_channel(services.keys))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    yield pubsub
    await pubsub.aclose()
    await client.aclose()


async def next_event(pubsub: Any, wait_s: float = 2.0) -> SyncStateEvent | None:
    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_s)
    if message is None:
        return None
    return SyncStateEvent.from_payload(orjson.loads(message["data"]))


def auth(services: Services, device_id: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_device_token(services, device_id)}"}


async def sync_row(services: Services, device_id: uuid.UUID) -> Any:
    """The device's sync columns with its stored content report (NULLs: none)."""
    async with services.engine.connect() as conn:
        return (
            await conn.execute(
                sa.select(
                    devices.c.sync_state,
                    devices.c.sync_state_since,
                    devices.c.desired_plan_etag,
                    devices.c.reported_plan_etag,
                    devices.c.reports_content,
                    device_content_reports.c.cached_content,
                    device_content_reports.c.failed_content,
                )
                .select_from(
                    devices.outerjoin(
                        device_content_reports, device_content_reports.c.device_id == devices.c.id
                    )
                )
                .where(devices.c.id == device_id)
            )
        ).one()


async def required_versions(services: Services, device_id: uuid.UUID) -> list[dict[str, Any]]:
    """The plan's content versions as a player reads them from its plan items."""
    async with services.engine.connect() as conn:
        plan = (
            await conn.execute(
                sa.select(playout_plans.c.plan_json).where(playout_plans.c.device_id == device_id)
            )
        ).scalar_one()
    refs = {(item["content_id"], item["version"]) for item in plan["items"]}
    return [{"content_id": cid, "version": version} for cid, version in sorted(refs)]


async def beat(
    client: httpx.AsyncClient, services: Services, device_id: uuid.UUID, **fields: Any
) -> httpx.Response:
    response = await client.post(
        PATH, json={**HEARTBEAT, **fields}, headers=auth(services, device_id)
    )
    assert response.status_code == 200, response.text
    return response


async def fetch_plan(client: httpx.AsyncClient, services: Services, device_id: uuid.UUID) -> str:
    """GET the plan like a player (generated on demand the first time); its bare ETag."""
    response = await client.get("/v1/device/plan", headers=auth(services, device_id))
    assert response.status_code == 200, response.text
    return str(response.headers["etag"]).strip('"')


@pytest.fixture
async def world(services: Services) -> World:
    return await make_world(services, 2)


async def test_old_players_without_content_reports_converge_on_the_etag_alone(
    services: Services, edge_client: httpx.AsyncClient, world: World, clock: FrozenClock
) -> None:
    device = world.device_ids[0]
    created = await sync_row(services, device)
    assert created.sync_state == SyncState.PENDING and created.desired_plan_etag is None

    clock.advance(timedelta(seconds=30))
    await beat(edge_client, services, device)  # no plan yet: still pending, since unchanged
    assert (await sync_row(services, device)).sync_state_since == created.sync_state_since

    etag = await fetch_plan(edge_client, services, device)
    fetched = await sync_row(services, device)
    assert (fetched.sync_state, fetched.desired_plan_etag) == (SyncState.PENDING, etag)

    clock.advance(timedelta(seconds=60))
    response = await beat(edge_client, services, device, plan_etag=etag)
    assert response.json()["plan_changed"] is False
    synced = await sync_row(services, device)
    assert synced.sync_state == SyncState.IN_SYNC
    assert synced.sync_state_since == T0 + timedelta(seconds=90)
    assert synced.cached_content is None and synced.failed_content is None
    assert synced.reports_content is False

    clock.advance(timedelta(seconds=60))
    await beat(edge_client, services, device, plan_etag=etag)
    again = await sync_row(services, device)
    assert (again.sync_state, again.sync_state_since) == (
        SyncState.IN_SYNC,
        T0 + timedelta(seconds=90),
    )


async def test_pending_downloading_in_sync_and_since_moves_only_on_transitions(
    services: Services,
    edge_client: httpx.AsyncClient,
    world: World,
    clock: FrozenClock,
    subscriber: Any,
) -> None:
    device = world.device_ids[0]
    etag = await fetch_plan(edge_client, services, device)
    required = await required_versions(services, device)
    assert len(required) == 2  # the promo and the fallback filler

    # Still on no plan, but reporting an empty cache: pending (the ETag differs).
    await beat(edge_client, services, device, cached_content_versions=[])
    assert (await sync_row(services, device)).sync_state == SyncState.PENDING
    assert await next_event(subscriber, wait_s=0.3) is None  # no change, no event

    clock.advance(timedelta(seconds=60))
    await beat(edge_client, services, device, plan_etag=etag, cached_content_versions=required[:1])
    downloading = await sync_row(services, device)
    assert downloading.sync_state == SyncState.DOWNLOADING
    assert downloading.sync_state_since == T0 + timedelta(seconds=60)
    event = await next_event(subscriber)
    assert event is not None
    assert (event.device_id, event.store_id, event.group_id) == (
        device,
        world.store_id,
        world.group_id,
    )
    assert (event.previous_sync_state, event.sync_state) == (
        SyncState.PENDING,
        SyncState.DOWNLOADING,
    )
    assert event.since == T0 + timedelta(seconds=60)
    assert (event.desired_plan_etag, event.reported_plan_etag) == (etag, etag)

    # The cache report is omitted: the stored one stands, nothing changes.
    clock.advance(timedelta(seconds=60))
    await beat(edge_client, services, device, plan_etag=etag)
    same = await sync_row(services, device)
    assert (same.sync_state, same.sync_state_since) == (
        SyncState.DOWNLOADING,
        T0 + timedelta(seconds=60),
    )
    assert await next_event(subscriber, wait_s=0.3) is None

    clock.advance(timedelta(seconds=60))
    extra = {"content_id": str(uuid.uuid4()), "version": 7}  # cached but not needed: fine
    await beat(
        edge_client, services, device, plan_etag=etag, cached_content_versions=[*required, extra]
    )
    synced = await sync_row(services, device)
    assert synced.sync_state == SyncState.IN_SYNC
    assert synced.sync_state_since == T0 + timedelta(seconds=180)
    event = await next_event(subscriber)
    assert event is not None and event.sync_state == SyncState.IN_SYNC


async def test_a_failed_download_of_needed_content_is_failed_until_cleared(
    services: Services, edge_client: httpx.AsyncClient, world: World, clock: FrozenClock
) -> None:
    device = world.device_ids[0]
    etag = await fetch_plan(edge_client, services, device)
    required = await required_versions(services, device)
    unrelated = {"content_id": str(uuid.uuid4()), "version": 1, "error": "HTTP 404"}

    await beat(
        edge_client,
        services,
        device,
        plan_etag=etag,
        cached_content_versions=required,
        failed_content_versions=[unrelated],
    )
    assert (await sync_row(services, device)).sync_state == SyncState.IN_SYNC

    clock.advance(timedelta(seconds=60))
    failure = {**required[0], "error": "sha256 mismatch", "at": "2026-03-02T11:00:30+01:00"}
    # Failures count even before the player switches to the new plan's ETag.
    await beat(
        edge_client,
        services,
        device,
        plan_etag="an-older-plan",
        cached_content_versions=required[1:],
        failed_content_versions=[unrelated, failure],
    )
    failed = await sync_row(services, device)
    assert failed.sync_state == SyncState.FAILED
    assert failed.sync_state_since == T0 + timedelta(seconds=60)
    key = f"{required[0]['content_id']}:{required[0]['version']}"
    assert failed.failed_content[key] == {
        "error": "sha256 mismatch",
        "at": "2026-03-02T10:00:30+00:00",
    }

    clock.advance(timedelta(seconds=60))
    await beat(
        edge_client,
        services,
        device,
        plan_etag=etag,
        cached_content_versions=required,
        failed_content_versions=[],
    )
    cleared = await sync_row(services, device)
    assert (cleared.sync_state, cleared.sync_state_since) == (
        SyncState.IN_SYNC,
        T0 + timedelta(seconds=120),
    )
    assert cleared.failed_content == {}
    assert cleared.cached_content is not None  # the stored cache report stands


async def test_a_regenerated_plan_makes_an_in_sync_device_pending(
    services: Services,
    edge_client: httpx.AsyncClient,
    world: World,
    clock: FrozenClock,
    subscriber: Any,
) -> None:
    device, other = world.device_ids
    etag = await fetch_plan(edge_client, services, device)
    required = await required_versions(services, device)
    await beat(edge_client, services, device, plan_etag=etag, cached_content_versions=required)
    assert (await sync_row(services, device)).sync_state == SyncState.IN_SYNC
    assert (await next_event(subscriber)) is not None  # pending -> in sync

    # Unchanged inputs: nothing rewritten, the device stays in sync.
    clock.advance(timedelta(minutes=5))
    await regenerate(services, [device], computer=PlanComputer())
    assert (await sync_row(services, device)).sync_state == SyncState.IN_SYNC
    assert await next_event(subscriber, wait_s=0.3) is None

    # A new version of the promo (followed by its playlist item) changes the plan.
    await add_version(services, world.promo_content, 2)
    clock.advance(timedelta(minutes=5))
    report = await regenerate(services, world.device_ids, computer=PlanComputer())
    new_etag = report.plans[device].etag
    assert new_etag != etag
    pending = await sync_row(services, device)
    assert (pending.sync_state, pending.desired_plan_etag) == (SyncState.PENDING, new_etag)
    assert pending.sync_state_since == T0 + timedelta(minutes=10)
    event = await next_event(subscriber)
    assert event is not None and event.device_id == device
    assert (event.previous_sync_state, event.sync_state) == (
        SyncState.IN_SYNC,
        SyncState.PENDING,
    )
    assert event.desired_plan_etag == new_etag and event.reported_plan_etag == etag
    # The other device had no plan and stays pending: no event for it.
    assert (await sync_row(services, other)).sync_state == SyncState.PENDING
    assert await next_event(subscriber, wait_s=0.3) is None

    # The player fetches the new plan; it runs it but still lacks the new promo version.
    clock.advance(timedelta(minutes=1))
    await beat(edge_client, services, device, plan_etag=new_etag)
    assert (await sync_row(services, device)).sync_state == SyncState.DOWNLOADING
    await beat(
        edge_client,
        services,
        device,
        plan_etag=new_etag,
        cached_content_versions=await required_versions(services, device),
    )
    assert (await sync_row(services, device)).sync_state == SyncState.IN_SYNC


async def test_a_lost_refresh_is_repaired_by_the_next_regeneration(
    services: Services, edge_client: httpx.AsyncClient, world: World
) -> None:
    """The refresh runs after the plan's COMMIT; should it be lost, the next regeneration of
    the device (even one that rewrites nothing) points it at its stored plan again."""
    device = world.device_ids[0]
    etag = await fetch_plan(edge_client, services, device)
    await beat(edge_client, services, device, plan_etag=etag)
    async with services.engine.begin() as conn:
        await conn.execute(
            sa.update(devices)
            .where(devices.c.id == device)
            .values(desired_plan_etag="sha256-lost", sync_state=SyncState.PENDING.value)
        )
    report = await regenerate(services, [device], computer=PlanComputer())
    assert report.written == 0
    repaired = await sync_row(services, device)
    assert (repaired.desired_plan_etag, repaired.sync_state) == (etag, SyncState.IN_SYNC)


async def test_the_heartbeat_keeps_the_state_while_its_plan_is_not_the_desired_one(
    services: Services, edge_client: httpx.AsyncClient, world: World
) -> None:
    """A refresh still on its way (the stored plan is newer than the device's desired ETag):
    content cannot be judged against either plan, so the state is left to the refresh."""
    device = world.device_ids[0]
    etag = await fetch_plan(edge_client, services, device)
    async with services.engine.begin() as conn:
        await conn.execute(
            sa.update(devices).where(devices.c.id == device).values(desired_plan_etag="sha256-old")
        )
    await beat(
        edge_client,
        services,
        device,
        plan_etag="sha256-old",
        cached_content_versions=await required_versions(services, device),
    )
    kept = await sync_row(services, device)
    assert kept.sync_state == SyncState.PENDING
    await regenerate(services, [device], computer=PlanComputer())  # the refresh arrives
    assert (await sync_row(services, device)).sync_state == SyncState.PENDING  # old ETag
    await beat(edge_client, services, device, plan_etag=etag)
    assert (await sync_row(services, device)).sync_state == SyncState.IN_SYNC


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        (
            {"cached_content_versions": [{"content_id": "nope", "version": 1}]},
            "cached_content_versions[0].content_id",
            "uuid",
        ),
        (
            {"cached_content_versions": [{"content_id": str(uuid.UUID(int=1)), "version": 0}]},
            "cached_content_versions[0].version",
            "greater_than_equal",
        ),
        (
            {"cached_content_versions": [{"content_id": str(uuid.UUID(int=1)), "version": "1"}]},
            "cached_content_versions[0].version",
            "int_type",
        ),
        (
            {
                "cached_content_versions": [
                    {"content_id": str(uuid.UUID(int=1)), "version": 1, "sha256": "x"}
                ]
            },
            "cached_content_versions[0].sha256",
            "extra_forbidden",
        ),
        (
            {
                "cached_content_versions": [
                    {"content_id": str(uuid.UUID(int=n)), "version": 1}
                    for n in range(MAX_CACHED_CONTENT + 1)
                ]
            },
            "cached_content_versions",
            "too_long",
        ),
        (
            {
                "failed_content_versions": [
                    {"content_id": str(uuid.UUID(int=n)), "version": 1, "error": "x"}
                    for n in range(MAX_FAILED_CONTENT + 1)
                ]
            },
            "failed_content_versions",
            "too_long",
        ),
        (
            {
                "failed_content_versions": [
                    {"content_id": str(uuid.UUID(int=1)), "version": 1, "error": "e" * 201}
                ]
            },
            "failed_content_versions[0].error",
            "string_too_long",
        ),
        (
            {"failed_content_versions": [{"content_id": str(uuid.UUID(int=1)), "version": 1}]},
            "failed_content_versions[0].error",
            "missing",
        ),
        (
            {
                "failed_content_versions": [
                    {
                        "content_id": str(uuid.UUID(int=1)),
                        "version": 1,
                        "error": "x",
                        "at": "2026-03-02T10:00:00",
                    }
                ]
            },
            "failed_content_versions[0].at",
            "timezone_aware",
        ),
    ],
)
async def test_invalid_content_reports_are_422_naming_the_field(
    services: Services,
    edge_client: httpx.AsyncClient,
    world: World,
    fields: dict[str, Any],
    field: str,
    code: str,
) -> None:
    device = world.device_ids[0]
    response = await edge_client.post(
        PATH, json={**HEARTBEAT, **fields}, headers=auth(services, device)
    )
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    problems = error["details"]["errors"]
    assert any(p["field"].startswith(field) and p["code"].startswith(code) for p in problems), (
        problems
    )
    # Nothing was recorded.
    assert (await sync_row(services, device)).cached_content is None


async def test_the_largest_allowed_reports_fit_the_body_limit(
    services: Services, edge_client: httpx.AsyncClient, world: World
) -> None:
    device = world.device_ids[0]
    etag = await fetch_plan(edge_client, services, device)
    cached = [
        {"content_id": str(uuid.uuid4()), "version": 2**31 - 1} for _ in range(MAX_CACHED_CONTENT)
    ]
    failed = [
        {
            "content_id": str(uuid.uuid4()),
            "version": 2**31 - 1,
            "error": "e" * 200,
            "at": "2026-03-02T10:00:00.123456+01:00",
        }
        for _ in range(MAX_FAILED_CONTENT)
    ]
    await beat(
        edge_client,
        services,
        device,
        plan_etag=etag,
        last_error="x" * 2000,
        cached_content_versions=cached,
        failed_content_versions=failed,
    )
    row = await sync_row(services, device)
    assert len(row.cached_content) == MAX_CACHED_CONTENT
    assert len(row.failed_content) == MAX_FAILED_CONTENT
    # None of the reported versions is the plan's: it is still downloading.
    assert row.sync_state == SyncState.DOWNLOADING


async def test_a_report_is_written_only_when_it_changes(
    services: Services, edge_client: httpx.AsyncClient, world: World, clock: FrozenClock
) -> None:
    """Players may send their cache on every heartbeat: an unchanged one costs no write, and
    a part left out keeps its stored value."""
    device = world.device_ids[0]
    etag = await fetch_plan(edge_client, services, device)
    required = await required_versions(services, device)

    async def written_at() -> Any:
        async with services.engine.connect() as conn:
            return (
                await conn.execute(
                    sa.select(device_content_reports.c.updated_at).where(
                        device_content_reports.c.device_id == device
                    )
                )
            ).scalar_one()

    await beat(edge_client, services, device, plan_etag=etag, cached_content_versions=required)
    assert (await sync_row(services, device)).reports_content is True
    assert await written_at() == T0
    clock.advance(timedelta(seconds=60))
    await beat(
        edge_client, services, device, plan_etag=etag, cached_content_versions=required[::-1]
    )
    assert await written_at() == T0  # the same set, in another order: nothing written
    clock.advance(timedelta(seconds=60))
    failure = {**required[0], "error": "HTTP 500"}
    await beat(edge_client, services, device, plan_etag=etag, failed_content_versions=[failure])
    row = await sync_row(services, device)
    assert await written_at() == T0 + timedelta(seconds=120)
    assert len(row.cached_content) == len(required)  # left out: kept
    assert row.sync_state == SyncState.FAILED


async def test_the_openapi_document_describes_the_optional_reports(
    edge_client: httpx.AsyncClient,
) -> None:
    document = (await edge_client.get("/v1/device/openapi.json")).json()
    schemas = document["components"]["schemas"]
    request = schemas["HeartbeatRequest"]
    for name, bound in (
        ("cached_content_versions", MAX_CACHED_CONTENT),
        ("failed_content_versions", MAX_FAILED_CONTENT),
    ):
        assert name not in request["required"]  # backward compatible: optional
        field = request["properties"][name]
        assert "omitted or null means unchanged" in field["description"]
        [array] = [option for option in field["anyOf"] if option.get("type") == "array"]
        assert array["maxItems"] == bound
    failure = schemas["FailedContentVersion"]
    assert set(failure["required"]) == {"content_id", "version", "error"}
    assert failure["properties"]["error"]["maxLength"] == 200
    assert all(p.get("description") for p in failure["properties"].values())
