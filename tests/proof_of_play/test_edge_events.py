"""`POST /v1/device/events` over real HTTP (ASGI) with real device tokens."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import orjson
from sqlalchemy import text, update

from core.bootstrap import Services
from core.db.tables import devices
from core.security.tokens import TokenKind, TokenService
from tests.conftest import T0
from tests.proof_of_play.builders import (
    World,
    add_store,
    aggregate_rows,
    event,
    make_world,
    raw_count,
)

URL = "/v1/device/events"


def device_auth(services: Services, world: World, epoch: int = 0) -> dict[str, str]:
    token, _ = TokenService(services.settings, services.clock).issue(
        TokenKind.DEVICE_ACCESS,
        str(world.device_id),
        ttl_s=900,
        extra={"epoch": epoch, "store_id": str(world.store_id)},
    )
    return {"Authorization": f"Bearer {token}"}


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "details"}
    return dict(body["error"])


async def test_a_batch_is_ingested_and_a_resend_counts_nothing_twice(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    auth = device_auth(services, w)
    batch = [event(w, T0 - timedelta(minutes=m), duration_ms=10_000) for m in range(1, 6)]
    first = await edge_client.post(URL, json={"events": batch}, headers=auth)
    assert first.status_code == 200, first.text
    assert first.json() == {"accepted": 5, "duplicates": 0, "rejected": 0, "errors": []}
    assert await raw_count(services) == 5  # committed before the answer: another connection sees it

    again = await edge_client.post(URL, json={"events": batch}, headers=auth)
    assert again.json() == {"accepted": 0, "duplicates": 5, "rejected": 0, "errors": []}
    assert list((await aggregate_rows(services)).values()) == [(5, 5, 0, 50_000)]


async def test_a_partial_batch_lists_each_refusal(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    bad_type = event(w, T0, type="PLAY_PAUSE")
    negative = event(w, T0, duration_ms=-10)
    insane = event(w, T0, duration_ms=10 * 60 * 1000)  # a 30 s video "played" for 10 min
    batch = [event(w, T0), bad_type, negative, {"event_id": "nope"}, insane, event(w, T0)]
    response = await edge_client.post(URL, json={"events": batch}, headers=device_auth(services, w))
    assert response.status_code == 200
    body = response.json()
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (2, 0, 4)
    assert [(e["index"], e["event_id"], e["code"]) for e in body["errors"]] == [
        (1, bad_type["event_id"], "invalid_type"),
        (2, negative["event_id"], "negative_duration"),
        (3, "nope", "invalid_event_id"),
        (4, insane["event_id"], "duration_exceeds_content"),
    ]
    assert all(e["message"] for e in body["errors"])


async def test_more_than_1000_events_is_413(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    one = event(w, T0)
    batch = [{**one, "event_id": str(uuid.uuid4())} for _ in range(1001)]
    response = await edge_client.post(URL, json={"events": batch}, headers=device_auth(services, w))
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"
    assert await raw_count(services) == 0
    exactly = await edge_client.post(
        URL, json={"events": batch[:1000]}, headers=device_auth(services, w)
    )
    assert exactly.status_code == 200 and exactly.json()["accepted"] == 1000


async def test_a_body_over_1_mib_is_413_even_when_streamed(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    padding = {"note": "x" * 2000}
    batch = [event(w, T0, payload=padding) for _ in range(600)]  # ~1.4 MiB, under 1,000 events
    body = orjson.dumps({"events": batch})
    assert len(body) > 1024 * 1024
    auth = {**device_auth(services, w), "Content-Type": "application/json"}
    declared = await edge_client.post(URL, content=body, headers=auth)
    assert declared.status_code == 413
    assert error_of(declared)["code"] == "payload_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    streamed = await edge_client.post(URL, content=chunks(), headers=auth)  # no Content-Length
    assert streamed.status_code == 413
    assert await raw_count(services) == 0


async def test_a_malformed_envelope_is_refused_whole(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    auth = device_auth(services, w)
    for envelope in ([], {"events": {}}, {"event": []}, {"events": [], "device_id": "x"}):
        response = await edge_client.post(URL, json=envelope, headers=auth)
        assert response.status_code == 422, envelope
        assert error_of(response)["code"] == "validation_error"
    broken = await edge_client.post(
        URL, content=b'{"events": [', headers={**auth, "Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and error_of(broken)["code"] == "malformed_json"
    empty = await edge_client.post(URL, json={"events": []}, headers=auth)
    assert empty.json() == {"accepted": 0, "duplicates": 0, "rejected": 0, "errors": []}


async def test_a_device_token_is_required(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    missing = await edge_client.post(URL, json={"events": [event(w, T0)]})
    assert missing.status_code == 401
    console, _ = TokenService(services.settings, services.clock).issue(
        TokenKind.CONSOLE_ACCESS, str(uuid.uuid4()), ttl_s=900
    )
    wrong_kind = await edge_client.post(
        URL, json={"events": [event(w, T0)]}, headers={"Authorization": f"Bearer {console}"}
    )
    assert wrong_kind.status_code == 401
    assert await raw_count(services) == 0


async def test_the_store_comes_from_the_device_record(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    auth = device_auth(services, w)  # the token still names the old store
    tokyo = await add_store(services, "Asia/Tokyo", "Tokyo")
    async with services.engine.begin() as conn:
        await conn.execute(
            update(devices).values(store_id=tokyo).where(devices.c.id == w.device_id)
        )
    # 15:30 UTC the day before T0 is 00:30 on T0's day in Tokyo.
    late = event(w, T0.replace(hour=15, minute=30) - timedelta(days=1), store_id=str(w.store_id))
    response = await edge_client.post(URL, json={"events": [late]}, headers=auth)
    assert response.json()["accepted"] == 1
    async with services.engine.connect() as conn:
        row = (
            await conn.execute(text("SELECT store_id, local_day FROM proof_of_play_events"))
        ).one()
    assert row.store_id == tokyo
    assert row.local_day == T0.date()


async def test_identical_requests_in_flight_together_count_once(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    auth = device_auth(services, w)
    batch = [event(w, T0 - timedelta(seconds=s), duration_ms=1_000) for s in range(200)]
    responses = await asyncio.gather(
        *(edge_client.post(URL, json={"events": batch}, headers=auth) for _ in range(4))
    )
    bodies = [r.json() for r in responses]
    assert sum(b["accepted"] for b in bodies) == 200
    assert sum(b["duplicates"] for b in bodies) == 600
    assert list((await aggregate_rows(services)).values()) == [(200, 200, 0, 200_000)]


async def test_the_route_is_in_the_openapi_document(edge_client: httpx.AsyncClient) -> None:
    document = (await edge_client.get("/v1/device/openapi.json")).json()
    operation = document["paths"]["/v1/device/events"]["post"]
    assert operation["operationId"] == "postProofOfPlayEvents"
    assert {"200", "401", "413", "422"} <= set(operation["responses"])
