"""The console's websocket through backend outages: never an unhandled exception, never a
silent dead subscription.

- A subscription running while Redis is cut keeps its socket, and delivers events again once
  Redis is back (the events bus reconnects and subscribes again).
- A console connecting while Redis or PostgreSQL is out of reach is closed with 1013
  "Try Again Later" (a typed close, not an abnormal one), and connects once it is back.
- An operation whose token check finds PostgreSQL out of reach is answered with an `error`
  coded UNAVAILABLE with `retryAfterSeconds`; the socket stays open for the next one.

A real uvicorn server runs the admin API on `outage_services` (tests.outage_fixtures), whose
PostgreSQL and Redis are reached through proxies the tests cut, freeze and restore. Events
are published straight to Redis, past the proxy, as another process would publish them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from core.bootstrap import Services
from core.db.enums import Role
from core.events_bus import DEVICE_STATUS, EventBus
from graphql_api.app import create_app
from graphql_api.websocket import CLOSE_TRY_AGAIN_LATER
from tests.graphql_api.helpers import create_user_and_token, serve
from tests.graphql_api.live_console import close_code, open_socket
from tests.graphql_api.test_monitoring_subscriptions import GraphQLSocket, until_subscribed
from tests.outages import OutageProxy, answered, until

STATUS = "subscription Status { deviceStatusChanged { deviceId status previousStatus } }"
POLL_S = 0.2  # how long to listen for each event published while waiting for the bus


@pytest.fixture
async def console_url(outage_services: Services) -> AsyncIterator[str]:
    async with serve(create_app(services=outage_services)) as host:
        yield f"ws://{host}/graphql"


@pytest.fixture
async def viewer_token(services: Services) -> str:
    return (await create_user_and_token(services, Role.VIEWER)).token


def _status_event(device_id: uuid.UUID) -> dict[str, Any]:
    return {
        "device_id": str(device_id),
        "store_id": None,
        "group_id": None,
        "status": "online",
        "previous_status": "offline",
        "last_seen_at": "2026-03-02T10:00:00+00:00",
    }


async def _next_event(console: GraphQLSocket, op_id: str, services: Services) -> dict[str, Any]:
    """Publish status events until the subscription `op_id` delivers one; that message.

    Pub/sub drops what is published while the bus is reconnecting, so one event is not
    enough; each is published past the proxy, straight to Redis. Whatever arrives first must
    be one of them, on `op_id`, as data: an error or a `complete` fails the test."""
    bus = EventBus(services.redis, services.keys)

    async def deliver() -> dict[str, Any]:
        published: set[str] = set()
        while True:
            device_id = uuid.uuid4()
            published.add(str(device_id))
            await bus.publish(DEVICE_STATUS, _status_event(device_id))
            try:
                message = await asyncio.wait_for(console.receive(), POLL_S)
            except TimeoutError:
                continue
            assert message["type"] == "next" and message["id"] == op_id, message
            assert "errors" not in message["payload"], message
            change: dict[str, Any] = message["payload"]["data"]["deviceStatusChanged"]
            assert change["deviceId"] in published, change
            return change

    return await answered(deliver())


async def test_a_subscription_survives_a_redis_outage_and_delivers_again_after_it(
    services: Services,
    outage_services: Services,
    redis_proxy: OutageProxy,
    console_url: str,
    viewer_token: str,
) -> None:
    async with open_socket(console_url, viewer_token) as console:
        await console.subscribe("status", STATUS)
        await until_subscribed(outage_services, DEVICE_STATUS, 1)
        assert (await _next_event(console, "status", services))["status"] == "ONLINE"

        with capture_logs() as logs:
            await redis_proxy.cut()
            # The bus saw its connection end (and keeps trying), so the test covers it.
            await until(lambda: any("events bus connection lost" in e["event"] for e in logs))
            await redis_proxy.restore()

        change = await _next_event(console, "status", services)
        assert (change["status"], change["previousStatus"]) == ("ONLINE", "OFFLINE")
        assert (
            EventBus(outage_services.redis, outage_services.keys).local_subscribers(DEVICE_STATUS)
            == 1
        )


@pytest.mark.parametrize("outage", ["cut", "freeze"])
async def test_connecting_while_redis_is_out_of_reach_is_closed_with_try_again_later(
    redis_proxy: OutageProxy, console_url: str, viewer_token: str, outage: str
) -> None:
    await getattr(redis_proxy, outage)()
    async with open_socket(console_url) as console:
        await console.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {viewer_token}"}}
        )
        assert await close_code(console) == CLOSE_TRY_AGAIN_LATER

    await redis_proxy.restore()
    async with open_socket(console_url, viewer_token):  # acknowledged
        pass


async def test_connecting_while_postgres_is_out_of_reach_is_closed_with_try_again_later(
    postgres_proxy: OutageProxy, console_url: str, viewer_token: str
) -> None:
    await postgres_proxy.cut()
    async with open_socket(console_url) as console:
        await console.send(
            {"type": "connection_init", "payload": {"authorization": f"Bearer {viewer_token}"}}
        )
        assert await close_code(console) == CLOSE_TRY_AGAIN_LATER

    await postgres_proxy.restore()
    async with open_socket(console_url, viewer_token):  # acknowledged
        pass


async def test_an_operation_while_postgres_is_out_of_reach_is_unavailable_and_the_socket_stays(
    services: Services,
    outage_services: Services,
    postgres_proxy: OutageProxy,
    console_url: str,
    viewer_token: str,
) -> None:
    async with open_socket(console_url, viewer_token) as console:
        await postgres_proxy.cut()
        await console.subscribe("refused", STATUS)
        answer = await console.receive()
        assert answer["type"] == "error" and answer["id"] == "refused", answer
        [error] = answer["payload"]
        assert error["extensions"]["code"] == "UNAVAILABLE", error
        assert error["extensions"]["retryAfterSeconds"] > 0
        assert "127.0.0.1" not in error["message"], error

        await postgres_proxy.restore()
        await console.subscribe("status", STATUS)
        await until_subscribed(outage_services, DEVICE_STATUS, 1)
        assert (await _next_event(console, "status", services))["status"] == "ONLINE"
