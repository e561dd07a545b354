"""One device's telemetry cannot stop the sweep for the fleet.

Honest devices next to poisoned ones must still go offline and get their incidents: first with
the most extreme values the edge accepts, sent through real heartbeats; then with values only a
row written some other way can hold; then with a rule PostgreSQL cannot evaluate for one device
at all, which the sweep isolates, skips for that rule only, and logs once.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.inputs import INT64_MAX
from core.monitoring.models import SweepResult
from core.monitoring.sweep import run_sweep
from tests.conftest import T0
from tests.device_edge.conftest import HEARTBEAT, Paired, Placement, pair
from tests.monitoring.factories import incident_rows, make_device, make_group, make_store

STUCK_SINCE = (T0 - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def opened(result: SweepResult) -> set[tuple[uuid.UUID, str]]:
    return {(incident.device_id, incident.type.value) for incident in result.opened}


async def raw_telemetry(services: Services, device: uuid.UUID, **documents: str) -> None:
    """JSON written as text, so that it can hold what Python would not encode (1e5000)."""
    assignments = ", ".join(f"{column} = CAST(:{column} AS jsonb)" for column in documents)
    async with services.engine.begin() as conn:
        await conn.execute(
            sa.text(f"UPDATE devices SET {assignments} WHERE id = :id"),
            {"id": device, **documents},
        )


async def test_extreme_heartbeats_the_edge_accepts_do_not_stop_the_sweep(
    edge_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    # T0 is Monday 11:00 in Berlin: the store is open. The group caps storage, so the
    # LOW_STORAGE rule does arithmetic on the reported disk usage.
    placement = Placement(
        store_id=await make_store(services),
        group_id=await make_group(services, {"storage_cap_bytes": 1000}),
    )
    honest = [await pair(edge_client, services, placement) for _ in range(3)]
    extremes: dict[str, dict[str, Any]] = {
        "position": {"started_at": STUCK_SINCE, "position_ms": INT64_MAX},
        "year_1": {"started_at": "0001-01-03T14:00:00+14:00", "position_ms": INT64_MAX},
        "year_9999": {"started_at": "9999-12-28T00:00:00-14:00", "position_ms": INT64_MAX},
    }
    poisoned: dict[str, Paired] = {}
    for name in extremes:
        poisoned[name] = await pair(edge_client, services, placement)

    async def heartbeat(device: Paired, body: dict[str, Any]) -> None:
        response = await edge_client.post("/v1/device/heartbeat", json=body, headers=device.auth)
        assert response.status_code == 200, response.text

    for device in honest:
        await heartbeat(device, HEARTBEAT)
    clock.advance(timedelta(minutes=10))  # the honest players fall silent
    counters = {key: INT64_MAX for key in ("uptime_s", "playback_errors", "plays")}
    for name, device in poisoned.items():
        await heartbeat(
            device,
            {
                **HEARTBEAT,
                "disk_used_bytes": INT64_MAX,
                "counters": counters,
                "now_playing": extremes[name],
            },
        )

    result = await run_sweep(services)

    assert {change.device_id for change in result.went_offline} == {d.device_id for d in honest}
    assert opened(result) >= {(d.device_id, "OFFLINE_DURING_HOURS") for d in honest}
    # The poisoned players are judged too (they do report 2**63-1 bytes used), not skipped.
    assert opened(result) >= {(d.device_id, "LOW_STORAGE") for d in poisoned.values()}
    assert result.skipped == {}
    low = next(i for i in result.opened if i.device_id == poisoned["position"].device_id)
    assert low.details["used_percent"] == pytest.approx(100 * INT64_MAX / 1000)


async def test_values_only_a_direct_write_can_hold_do_not_stop_the_sweep(
    services: Services,
) -> None:
    store = await make_store(services)
    capped = await make_group(services, {"storage_cap_bytes": 1000})
    silent = [
        await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))
        for _ in range(3)
    ]
    crashing = await make_device(
        services, store_id=store, last_seen_at=T0, counters_json={"crashes_1h": 5}
    )
    documents = [
        {"counters_json": '{"crashes_1h": 1e5000, "download_failures": "lots"}'},
        {"now_playing_json": '{"started_at": "infinity", "position_ms": 5}'},
        {"now_playing_json": '{"started_at": "294276-12-31T23:59:59Z", "position_ms": 1e400}'},
        {"now_playing_json": '{"started_at": "not a time", "position_ms": "soon"}'},
        {"now_playing_json": "[1, 2, 3]", "counters_json": '"none"'},
    ]
    for document in documents:
        device = await make_device(
            services,
            store_id=store,
            group_id=capped,
            last_seen_at=T0,
            disk_used_bytes=INT64_MAX,
        )
        await raw_telemetry(services, device, **document)
    broken_policies = [  # as JSON text: 1e400 is no Python float
        '{"offline_threshold_s": 1e20, "storage_cap_bytes": 1e400}',
        '{"heartbeat_interval_s": 1e400, "storage_cap_bytes": 1e-400}',
    ]
    for policy in broken_policies:
        group = await make_group(services)
        async with services.engine.begin() as conn:
            await conn.execute(
                sa.text("UPDATE device_groups SET policy_json = CAST(:p AS jsonb) WHERE id = :g"),
                {"p": policy, "g": group},
            )
        await make_device(services, store_id=store, group_id=group, last_seen_at=T0)

    result = await run_sweep(services)

    assert {change.device_id for change in result.went_offline} == set(silent)
    assert opened(result) >= {(device, "OFFLINE_DURING_HOURS") for device in silent}
    assert (crashing, "CRASH_LOOP") in opened(result)
    assert result.skipped == {}  # the rules' SQL reads all of it without failing


async def test_a_device_a_rule_cannot_evaluate_is_skipped_for_that_rule_alone(
    services: Services, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A position of -1e5000 ms makes the item stuck, and the incident's details would copy
    a number no reader can decode (more than 4,300 digits): the PLAYBACK_STUCK rule cannot
    open that device's incident. Its other rules, and every other device, are judged."""
    store = await make_store(services)
    silent = [
        await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))
        for _ in range(12)
    ]
    stuck = {"started_at": STUCK_SINCE, "position_ms": 5000}
    honest_stuck = [
        await make_device(services, store_id=store, last_seen_at=T0, now_playing_json=stuck)
        for _ in range(12)
    ]
    unreadable = []
    for _ in range(2):
        device = await make_device(
            services, store_id=store, last_seen_at=T0, counters_json={"crashes_1h": 5}
        )
        await raw_telemetry(
            services,
            device,
            now_playing_json=f'{{"started_at": "{STUCK_SINCE}", "position_ms": -1e5000}}',
        )
        unreadable.append(device)

    result = await run_sweep(services)

    assert {change.device_id for change in result.went_offline} == set(silent)
    assert opened(result) == (
        {(device, "OFFLINE_DURING_HOURS") for device in silent}
        | {(device, "PLAYBACK_STUCK") for device in honest_stuck}
        | {(device, "CRASH_LOOP") for device in unreadable}
    )
    assert result.skipped == {device: ("PLAYBACK_STUCK",) for device in unreadable}
    stored = {(row.device_id, row.type) for row in await incident_rows(services)}
    assert stored == opened(result)

    # Logged once per device and sweep, naming the device, never the value.
    output = caplog.text + capsys.readouterr().out
    lines = [line for line in output.splitlines() if "monitoring skipped rules" in line]
    for device in unreadable:
        assert sum(str(device) in line for line in lines) == 1, output
    assert "e5000" not in output and "0" * 100 not in output

    # The next sweep judges the same way: the honest devices' incidents stay single.
    again = await run_sweep(services)
    assert again.opened == [] and again.resolved == []
    assert again.skipped == {device: ("PLAYBACK_STUCK",) for device in unreadable}


async def test_a_statement_postgresql_cannot_run_for_one_device_spares_the_others(
    services: Services,
) -> None:
    """The same defence when PostgreSQL itself refuses one device's row (here a trigger
    raises a data exception for it, as an unforeseen value would): the resolving statement
    is retried per rule and per range, and every other device's incident still resolves."""
    store = await make_store(services)
    crashing = [
        await make_device(
            services, store_id=store, last_seen_at=T0, counters_json={"crashes_1h": 5}
        )
        for _ in range(9)
    ]
    first = await run_sweep(services)
    assert opened(first) == {(device, "CRASH_LOOP") for device in crashing}
    refused = crashing[4]
    async with services.engine.begin() as conn:
        await conn.execute(
            sa.text(
                "UPDATE devices SET counters_json = CAST(:quiet AS jsonb) WHERE id = ANY(:ids)"
            ),
            {"quiet": '{"crashes_1h": 0}', "ids": crashing},
        )
        await conn.execute(
            sa.text(
                f"""CREATE FUNCTION refuse_one() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN
                    IF NEW.device_id = '{refused}' THEN
                        RAISE EXCEPTION 'cannot judge this device' USING ERRCODE = '22003';
                    END IF;
                    RETURN NEW;
                END $$"""
            )
        )
        await conn.execute(
            sa.text(
                "CREATE TRIGGER refuse_one BEFORE UPDATE ON incidents "
                "FOR EACH ROW EXECUTE FUNCTION refuse_one()"
            )
        )

    result = await run_sweep(services)

    assert {incident.device_id for incident in result.resolved} == set(crashing) - {refused}
    assert result.skipped == {refused: ("CRASH_LOOP",)}
    still_open = await incident_rows(services, resolved_at=None)
    assert [(row.device_id, row.type) for row in still_open] == [(refused, "CRASH_LOOP")]
