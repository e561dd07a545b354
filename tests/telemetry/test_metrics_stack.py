"""/metrics of a running stack after real traffic: the four processes (admin API, device edge,
two Dramatiq worker processes, scheduler) started as `signage up` starts them, on this test's
database and Redis prefix; real HTTP in, real scrapes out.

Every figure of docs/metrics.md is checked for its value where the traffic fixes it (so many
heartbeats, this many 304s, these proof-of-play outcomes), and for its presence where it
depends on timing (pools, event-loop lag). Then every metric a shipped dashboard or alert
rule queries must be among what the stack exports.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from core.bootstrap import Services
from core.config import Settings
from core.db.enums import Role
from ops.cli.processes import Supervisor, process_argv
from tests.conftest import TEST_JWT_KEYS, TEST_STORAGE_SIGNING_SECRET
from tests.device_edge.conftest import HEARTBEAT
from tests.graphql_api.helpers import create_user_and_token
from tests.proof_of_play.builders import event, make_world
from tests.proof_of_play.test_edge_events import device_auth
from tests.stack.monitoring_assets import queried_metrics
from tests.stack.support import clean_env, free_port
from tests.telemetry.scraping import Scrape, fetch, scrape

pytestmark = [pytest.mark.slow, pytest.mark.long]

KINDS = ("api", "edge", "worker", "scheduler")
WORKER_ARGS = ["--processes", "2", "--threads", "2", "--worker-shutdown-timeout", "5000"]
HEARTBEATS = 7


@dataclass
class RunningStack:
    api_url: str
    edge_url: str
    metrics_urls: dict[str, str]
    token: str

    def scrape(self, kind: str) -> Scrape:
        return scrape(self.metrics_urls[kind], self.token)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status in (200, 401))
    except urllib.error.HTTPError as exc:
        return exc.code == 401
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture
def stack(settings: Settings, tmp_path: Path) -> Iterator[RunningStack]:
    ports = {name: free_port() for name in ("api", "edge", *(f"m-{k}" for k in KINDS))}
    token = secrets.token_urlsafe(24)
    values = {
        "SIGNAGE_ENV": "test",
        "DATABASE_URL": str(settings.database_url),
        "REDIS_URL": str(settings.redis_url),
        "REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "SIGNAGE_DATA_DIR": str(tmp_path / "stack-data"),
        "JWT_KEYS": TEST_JWT_KEYS,
        "JWT_ACTIVE_KID": "k1",
        "STORAGE_SIGNING_SECRET": TEST_STORAGE_SIGNING_SECRET,
        "API_PORT": str(ports["api"]),
        "EDGE_PORT": str(ports["edge"]),
        "METRICS_API_PORT": str(ports["m-api"]),
        "METRICS_EDGE_PORT": str(ports["m-edge"]),
        "METRICS_WORKER_PORT": str(ports["m-worker"]),
        "METRICS_SCHEDULER_PORT": str(ports["m-scheduler"]),
        "METRICS_TOKEN": token,
        "METRICS_PUBLIC": "true",
    }
    parsed = Settings.model_validate(values)
    supervisor = Supervisor(clean_env(values))
    running = RunningStack(
        f"http://127.0.0.1:{ports['api']}",
        f"http://127.0.0.1:{ports['edge']}",
        {kind: f"http://127.0.0.1:{ports[f'm-{kind}']}/metrics" for kind in KINDS},
        token,
    )
    try:
        for kind in KINDS:
            extra = WORKER_ARGS if kind == "worker" else []
            supervisor.start(kind, process_argv(kind, parsed, extra))
        urls = [
            f"{running.api_url}/readyz",
            f"{running.edge_url}/readyz",
            *running.metrics_urls.values(),
        ]
        deadline = time.monotonic() + 90
        while not all(_answers(url) for url in urls):
            dead = supervisor.first_exited()
            assert dead is None, f"{dead.name} exited with {dead.process.returncode}"
            assert time.monotonic() < deadline, "the stack did not come up within 90 s"
            time.sleep(0.2)
        yield running
    finally:
        supervisor.stop_all()


async def eventually(check: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f} s: {what}"
        await asyncio.sleep(0.25)


async def test_a_running_stack_exports_every_figure_with_its_value(
    stack: RunningStack, services: Services
) -> None:
    world = await make_world(services)
    device = device_auth(services, world)
    admin = await create_user_and_token(services, Role.ADMIN)
    console = {"Authorization": f"Bearer {admin.token}"}
    now = datetime.now(UTC)

    async with httpx.AsyncClient(base_url=stack.edge_url, timeout=30) as edge:
        # Heartbeats, concurrently: the edge coalesces them into batches.
        answers = await asyncio.gather(
            *(
                edge.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device)
                for _ in range(HEARTBEATS)
            )
        )
        assert [a.status_code for a in answers] == [200] * HEARTBEATS
        # A plan download, then a poll that is not modified (the edge's fast path).
        full = await edge.get("/v1/device/plan", headers=device)
        assert full.status_code == 200, full.text
        same = await edge.get(
            "/v1/device/plan", headers={**device, "If-None-Match": full.headers["etag"]}
        )
        assert same.status_code == 304
        # Proof of play: two accepted, the same two again (duplicates), one refused.
        plays = [event(world, now - timedelta(minutes=m), duration_ms=10_000) for m in (1, 2)]
        refused = event(world, now, type="PLAY_PAUSE")
        first = await edge.post("/v1/device/events", json={"events": plays}, headers=device)
        again = await edge.post(
            "/v1/device/events", json={"events": [*plays, refused]}, headers=device
        )
        assert first.json()["accepted"] == 2, first.text
        assert (again.json()["duplicates"], again.json()["rejected"]) == (2, 1), again.text
        # An error with a code: no token.
        assert (await edge.get("/v1/device/plan")).status_code == 401

    async with httpx.AsyncClient(base_url=stack.api_url, timeout=30) as api:
        me = await api.post("/graphql", json={"query": "query Me { me { id } }"}, headers=console)
        assert me.status_code == 200 and "errors" not in me.json(), me.text
        # A schedule change: the device's plan must be regenerated by the workers.
        created = await api.post(
            "/graphql",
            json={
                "query": "mutation NewPlaylist($n: String!) { createPlaylist(input: {name: $n})"
                " { ... on PlaylistSuccess { playlist { id } } } }",
                "variables": {"n": "metrics"},
            },
            headers=console,
        )
        playlist_id = created.json()["data"]["createPlaylist"]["playlist"]["id"]
        scheduled = await api.post(
            "/graphql",
            json={
                "query": "mutation Schedule($i: ScheduleInput!) { createSchedule(input: $i)"
                " { __typename ... on ValidationError { code } } }",
                "variables": {
                    "i": {
                        "targetType": "DEVICE",
                        "targetId": str(world.device_id),
                        "playlistId": playlist_id,
                        "priority": 5,
                    }
                },
            },
            headers=console,
        )
        assert scheduled.json()["data"]["createSchedule"]["__typename"] == "ScheduleSuccess"
        # A typed error result: a schedule for a playlist that does not exist.
        missing = await api.post(
            "/graphql",
            json={
                "query": "mutation Missing($i: ScheduleInput!) { createSchedule(input: $i)"
                " { __typename } }",
                "variables": {
                    "i": {
                        "targetType": "DEVICE",
                        "targetId": str(world.device_id),
                        "playlistId": "00000000-0000-4000-8000-000000000000",
                    }
                },
            },
            headers=console,
        )
        assert missing.json()["data"]["createSchedule"]["__typename"] == "NotFoundError"

    # --- the edge -------------------------------------------------------------------------
    edge_figures = stack.scrape("edge")
    heartbeat = {"app": "edge", "route": "/v1/device/heartbeat", "method": "POST"}
    assert edge_figures.value("signage_http_requests_total", **heartbeat, status="200") == (
        HEARTBEATS
    )
    assert (
        edge_figures.value("signage_http_request_duration_seconds_count", **heartbeat) == HEARTBEATS
    )
    # Every heartbeat was written by exactly one batch.
    assert edge_figures.value("signage_heartbeat_batch_size_sum") == HEARTBEATS
    assert 1 <= edge_figures.value("signage_heartbeat_batch_size_count") <= HEARTBEATS
    assert edge_figures.value("signage_plan_polls_total", result="sent") == 1
    assert edge_figures.value("signage_plan_polls_total", result="not_modified") == 1
    plan_route = {"app": "edge", "route": "/v1/device/plan", "method": "GET"}
    assert edge_figures.value("signage_http_requests_total", **plan_route, status="304") == 1
    assert edge_figures.value("signage_http_requests_total", **plan_route, status="401") == 1
    assert (
        edge_figures.value(
            "signage_http_errors_total",
            route="/v1/device/plan",
            status="401",
            code="missing_token",
        )
        == 1
    )
    assert edge_figures.value("signage_pop_events_total", outcome="accepted") == 2
    assert edge_figures.value("signage_pop_events_total", outcome="duplicate") == 2
    assert (
        edge_figures.value("signage_pop_events_total", outcome="rejected", reason="invalid_type")
        == 1
    )
    assert edge_figures.has("signage_build_info", process="edge")

    # --- the admin API --------------------------------------------------------------------
    api_figures = stack.scrape("api")
    assert (
        api_figures.value("signage_graphql_operations_total", type="query", name="Me", outcome="ok")
        == 1
    )
    assert api_figures.value("signage_graphql_operation_duration_seconds_count", name="Me") == 1
    assert (
        api_figures.value(
            "signage_graphql_operations_total", type="mutation", name="Schedule", outcome="ok"
        )
        == 1
    )
    assert (
        api_figures.value(
            "signage_graphql_errors_total", type="mutation", name="Missing", code="NOT_FOUND"
        )
        == 1
    )
    assert (
        api_figures.value(
            "signage_http_requests_total", app="api", route="/graphql", method="POST", status="200"
        )
        == 4
    )

    # --- the workers: the change reached the plan, the sweep ran --------------------------
    def propagated() -> bool:
        figures = stack.scrape("worker")
        return figures.value("signage_plan_propagation_seconds_count", kind="schedule") >= 1

    await eventually(propagated, "the schedule change propagated")

    def swept() -> bool:
        figures = stack.scrape("worker")
        return (
            figures.value(
                "signage_actor_messages_total", actor="sweep_devices", outcome="succeeded"
            )
            >= 1
        )

    await eventually(swept, "a monitoring sweep ran")
    worker_figures = stack.scrape("worker")
    assert worker_figures.value("signage_actor_duration_seconds_count", actor="sweep_devices") >= 1
    assert worker_figures.value(
        "signage_actor_last_success_timestamp_seconds", actor="sweep_devices"
    ) == pytest.approx(time.time(), abs=120)
    assert worker_figures.has("signage_build_info", process="worker")

    # --- the scheduler: queues and the fleet, read at scrape time -------------------------
    scheduler_figures = stack.scrape("scheduler")
    assert scheduler_figures.value("signage_fleet_scrape_success") == 1
    assert scheduler_figures.value("signage_devices", status="online") == 1
    assert scheduler_figures.has("signage_devices_behind_plan", sync_state="pending")
    for queue in ("maintenance", "monitoring", "planning"):
        for state in ("ready", "delayed", "dead"):
            assert scheduler_figures.has("signage_queue_messages", queue=queue, state=state)
        assert scheduler_figures.value("signage_queue_messages", queue=queue, state="dead") == 0
    assert scheduler_figures.has("signage_plan_changes_pending")

    # --- runtime figures, sampled every few seconds ---------------------------------------
    def sampled() -> bool:
        return all(
            stack.scrape(kind).value("signage_event_loop_lag_seconds_count", process=kind) > 0
            for kind in ("api", "edge")
        )

    await eventually(sampled, "event-loop lag sampled", timeout_s=30)
    for kind in ("api", "edge"):
        figures = stack.scrape(kind)
        assert figures.has("signage_db_pool_connections", process=kind, state="idle")
        assert figures.has("signage_redis_pool_connections", process=kind, state="in_use")

    # --- what the dashboards and alert rules query is all there ---------------------------
    exported = frozenset().union(*(stack.scrape(kind).names for kind in KINDS))
    missing_names = sorted(queried_metrics() - exported)
    assert not missing_names, missing_names


async def test_metrics_answer_only_the_token(stack: RunningStack) -> None:
    for url in stack.metrics_urls.values():
        assert (await asyncio.to_thread(fetch, url))[0] == 401
        assert (await asyncio.to_thread(fetch, url, "wrong-token-0123456789"))[0] == 401
        status, body = await asyncio.to_thread(fetch, url, stack.token)
        assert status == 200 and "signage_build_info" in body
        assert (await asyncio.to_thread(fetch, url.replace("/metrics", "/other"), stack.token))[
            0
        ] == 404
    # METRICS_PUBLIC: the public ports answer /metrics too, with the token only.
    for base in (stack.api_url, stack.edge_url):
        assert (await asyncio.to_thread(fetch, f"{base}/metrics"))[0] == 401
        status, body = await asyncio.to_thread(fetch, f"{base}/metrics", stack.token)
        assert status == 200 and "signage_http_requests_total" in body
