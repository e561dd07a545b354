"""Live status end to end: a real websocket client (graphql-transport-ws) against the admin
API served by a real uvicorn server, with events travelling over Redis pub/sub from the
device edge's heartbeat route and from the offline sweep.

The server runs in this test's event loop (ASGI transports cannot do websockets), on a free
port, sharing the test's `services`.
"""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import Role
from core.events_bus import DEVICE_STATUS, INCIDENTS, EventBus
from core.monitoring.sweep import run_sweep
from graphql_api.app import MAX_SUBSCRIPTIONS_PER_CONNECTION, create_app
from tests.conftest import T0
from tests.graphql_api.helpers import (
    create_user_and_token,
    gql_data,
    mint_device_token,
)
from tests.monitoring.factories import make_device, make_group, make_store

TRANSPORT_WS = Subprotocol("graphql-transport-ws")
WAIT_S = 10.0

STATUS_CHANGES = """
subscription Status($storeId: UUID, $groupId: UUID) {
  deviceStatusChanged(storeId: $storeId, groupId: $groupId) {
    deviceId storeId status previousStatus lastSeenAt device { id status }
  }
}
"""
INCIDENT_EVENTS = """
subscription { incidentEvents { kind incident { id type severity status deviceId } } }
"""
FLEET_SUMMARY = """
subscription { fleetSummary { devicesTotal online offline openIncidents criticalIncidents } }
"""


@pytest.fixture
async def live_api(services: Services) -> AsyncIterator[str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(services=services),
        lifespan="on",
        ws="websockets-sansio",
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(WAIT_S):
            while not server.started:
                if task.done():
                    task.result()  # surface a start-up failure
                await asyncio.sleep(0.02)
        yield f"ws://127.0.0.1:{port}/graphql"
    finally:
        server.should_exit = True
        await task
        sock.close()


class GraphQLSocket:
    """Just enough of a graphql-transport-ws client."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def receive(self) -> dict[str, Any]:
        async with asyncio.timeout(WAIT_S):
            while True:
                message: dict[str, Any] = json.loads(await self.ws.recv())
                if message["type"] != "ping":
                    return message
                await self.send({"type": "pong"})

    async def init(self, payload: dict[str, Any]) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload})
        return await self.receive()

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.send(
            {
                "id": op_id,
                "type": "subscribe",
                "payload": {"query": query, "variables": variables or {}},
            }
        )

    async def next_data(self, op_id: str) -> dict[str, Any]:
        message = await self.receive()
        assert message["type"] == "next" and message["id"] == op_id, message
        assert "errors" not in message["payload"], message
        data: dict[str, Any] = message["payload"]["data"]
        return data


@asynccontextmanager
async def console_socket(url: str, token: str | None) -> AsyncIterator[GraphQLSocket]:
    async with connect(url, subprotocols=[TRANSPORT_WS]) as ws:
        assert ws.subprotocol == TRANSPORT_WS
        client = GraphQLSocket(ws)
        if token is not None:
            ack = await client.init({"authorization": f"Bearer {token}"})
            assert ack["type"] == "connection_ack", ack
        yield client


async def until_subscribed(services: Services, channel: str, count: int) -> None:
    """Wait until the server has exactly `count` live subscriptions on `channel`: the client
    cannot see when the server has subscribed to Redis; the server can."""
    bus = EventBus(services.redis, services.keys)
    for _ in range(int(WAIT_S / 0.02)):
        if bus.local_subscribers(channel) == count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{bus.local_subscribers(channel)} subscribers on {channel}, not {count}")


async def test_status_changes_from_a_heartbeat_and_from_the_sweep_reach_the_console(
    live_api: str,
    services: Services,
    clock: FrozenClock,
    edge_client: httpx.AsyncClient,
) -> None:
    group = await make_group(services)
    store = await make_store(services)
    other_store = await make_store(services)
    device = await make_device(
        services, store_id=store, group_id=group, status="offline", last_seen_at=None
    )
    elsewhere = await make_device(
        services, store_id=other_store, status="online", last_seen_at=T0 - timedelta(hours=1)
    )
    viewer = await create_user_and_token(services, Role.VIEWER)

    async with console_socket(live_api, viewer.token) as console:
        await console.subscribe("by-store", STATUS_CHANGES, {"storeId": str(store)})
        await until_subscribed(services, DEVICE_STATUS, 1)

        # 1) A heartbeat to the device edge brings the device online.
        response = await edge_client.post(
            "/v1/device/heartbeat",
            json={"disk_used_bytes": 1, "counters": {}},
            headers={"Authorization": f"Bearer {mint_device_token(services, device)}"},
        )
        assert response.status_code == 200, response.text
        online = (await console.next_data("by-store"))["deviceStatusChanged"]
        assert online == {
            "deviceId": str(device),
            "storeId": str(store),
            "status": "ONLINE",
            "previousStatus": "OFFLINE",
            "lastSeenAt": T0.isoformat(),
            "device": {"id": str(device), "status": "ONLINE"},
        }

        # 2) Silence past the threshold; the sweep marks it (and `elsewhere`) offline.
        clock.advance(timedelta(minutes=10))
        result = await run_sweep(services)
        assert {c.device_id for c in result.went_offline} == {device, elsewhere}
        offline = (await console.next_data("by-store"))["deviceStatusChanged"]
        assert (offline["deviceId"], offline["status"], offline["previousStatus"]) == (
            str(device),
            "OFFLINE",
            "ONLINE",
        )
        assert offline["device"]["status"] == "OFFLINE"  # fresh, not a cached row

        # The store filter kept `elsewhere` out; a group filter sees only `device` too.
        await console.subscribe("by-group", STATUS_CHANGES, {"groupId": str(group)})
        await until_subscribed(services, DEVICE_STATUS, 2)
        clock.advance(timedelta(seconds=1))
        for device_id in (elsewhere, device):
            await edge_client.post(
                "/v1/device/heartbeat",
                json={"disk_used_bytes": 1, "counters": {}},
                headers={"Authorization": f"Bearer {mint_device_token(services, device_id)}"},
            )
        received = sorted([await console.receive(), await console.receive()], key=lambda m: m["id"])
        assert [
            (m["id"], m["payload"]["data"]["deviceStatusChanged"]["deviceId"]) for m in received
        ] == [
            ("by-group", str(device)),
            ("by-store", str(device)),
        ]


async def test_incident_events_and_fleet_summary_stream(
    live_api: str,
    services: Services,
    api_client: httpx.AsyncClient,
) -> None:
    store = await make_store(services)
    device = await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))
    operator = await create_user_and_token(services, Role.OPERATOR)

    async with console_socket(live_api, operator.token) as console:
        await console.subscribe("summary", FLEET_SUMMARY)
        first = (await console.next_data("summary"))["fleetSummary"]
        assert first == {
            "devicesTotal": 1,
            "online": 1,
            "offline": 0,
            "openIncidents": 0,
            "criticalIncidents": 0,
        }
        await console.subscribe("incidents", INCIDENT_EVENTS)
        await until_subscribed(services, INCIDENTS, 2)

        [opened] = (await run_sweep(services)).opened
        messages = {m["id"]: m for m in [await console.receive(), await console.receive()]}
        event = messages["incidents"]["payload"]["data"]["incidentEvents"]
        assert event == {
            "kind": "OPENED",
            "incident": {
                "id": str(opened.id),
                "type": "OFFLINE_DURING_HOURS",
                "severity": "CRITICAL",
                "status": "OPEN",
                "deviceId": str(device),
            },
        }
        assert messages["summary"]["payload"]["data"]["fleetSummary"] == {
            "devicesTotal": 1,
            "online": 0,
            "offline": 1,
            "openIncidents": 1,
            "criticalIncidents": 1,
        }

        acknowledge = "mutation($id: UUID!) { acknowledgeIncident(id: $id) { __typename } }"
        await gql_data(api_client, acknowledge, {"id": str(opened.id)}, token=operator.token)
        updated = (await console.next_data("incidents"))["incidentEvents"]
        assert (updated["kind"], updated["incident"]["status"]) == ("UPDATED", "ACKNOWLEDGED")


async def test_subscribing_needs_connection_init_with_a_console_token(
    live_api: str, services: Services
) -> None:
    async with console_socket(live_api, token=None) as console:  # no connection_init
        await console.subscribe("1", FLEET_SUMMARY)
        with pytest.raises(ConnectionClosed) as closed:
            await console.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

    device_token = mint_device_token(services, uuid.uuid4())
    for payload in ({}, {"authorization": "Bearer not-a-token"}, {"token": device_token}):
        async with console_socket(live_api, token=None) as console:
            with pytest.raises(ConnectionClosed) as closed:
                await console.init(payload)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_the_legacy_graphql_ws_protocol_is_refused(live_api: str) -> None:
    async with connect(live_api, subprotocols=[Subprotocol("graphql-ws")]) as ws:
        assert ws.subprotocol is None
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), WAIT_S)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406


async def test_subscriptions_per_connection_are_limited(live_api: str, services: Services) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    async with console_socket(live_api, viewer.token) as console:
        for n in range(MAX_SUBSCRIPTIONS_PER_CONNECTION):
            await console.subscribe(f"s{n}", STATUS_CHANGES)
        await until_subscribed(services, DEVICE_STATUS, MAX_SUBSCRIPTIONS_PER_CONNECTION)
        await console.subscribe("one-too-many", STATUS_CHANGES)
        refused = await console.receive()
        assert refused["type"] == "error" and refused["id"] == "one-too-many"
        assert refused["payload"][0]["message"] == "Subscription limit reached"

        await console.send({"id": "s0", "type": "complete"})  # freeing a slot helps
        await until_subscribed(services, DEVICE_STATUS, MAX_SUBSCRIPTIONS_PER_CONNECTION - 1)
        await console.subscribe("after-complete", STATUS_CHANGES)
        await until_subscribed(services, DEVICE_STATUS, MAX_SUBSCRIPTIONS_PER_CONNECTION)
