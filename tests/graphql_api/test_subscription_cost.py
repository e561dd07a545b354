"""Subscriptions cost the same for 1 or 1,000 subscribers (issue 12, item 7).

Over a real uvicorn server and real graphql-transport-ws clients:
- one monitoring sweep (a device goes offline, an incident opens) sends every subscriber its
  status change, its incident event and the new fleet summary, and costs the same number of
  PostgreSQL statements with 50 consoles as with 1: the summary is computed once per scope
  and the rows the events show are loaded once per event;
- open websockets are capped per user and per client address; one more is closed with 4429.
"""

from __future__ import annotations

import asyncio
import difflib
from contextlib import AsyncExitStack
from datetime import timedelta

import pytest
from websockets.exceptions import ConnectionClosed

from core.bootstrap import Services
from core.db.enums import Role
from core.events_bus import DEVICE_STATUS, INCIDENTS, EventBus
from core.monitoring.sweep import run_sweep
from graphql_api.monitoring.subscriptions import summary_feeds
from tests.conftest import T0
from tests.graphql_api.helpers import ConsoleUser, count_queries, create_user_and_token
from tests.graphql_api.live_console import live_console, open_socket, query
from tests.graphql_api.test_monitoring_subscriptions import (
    FLEET_SUMMARY,
    WAIT_S,
    GraphQLSocket,
)
from tests.monitoring.factories import make_device, make_group, make_store

LIVE = {
    "summary": FLEET_SUMMARY,
    "status": """subscription {
      deviceStatusChanged {
        deviceId status device { id status store { name } group { name } }
      }
    }""",
    "incidents": """subscription {
      incidentEvents { kind incident { id type device { id status } store { name } } }
    }""",
}


async def _join(url: str, users: list[ConsoleUser], stack: AsyncExitStack) -> list[GraphQLSocket]:
    """One console per user, each subscribed to the three live views."""
    consoles = []
    for user in users:
        console = await stack.enter_async_context(open_socket(url, user.token))
        for op_id, document in LIVE.items():
            await console.subscribe(op_id, document)
        await console.next_data("summary")  # the summary as it is now
        consoles.append(console)
    return consoles


async def _until_listening(services: Services, at_least: int) -> None:
    """Until the server holds every console's event subscriptions (the client cannot see
    when the server has subscribed; the server can)."""
    bus = EventBus(services.redis, services.keys)
    for _ in range(int(WAIT_S / 0.02)):
        if min(bus.local_subscribers(DEVICE_STATUS), bus.local_subscribers(INCIDENTS)) >= at_least:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {at_least} subscribers on the server")


async def _statements_for_one_change(
    services: Services, consoles: list[GraphQLSocket]
) -> list[str]:
    """A device goes silent; the sweep marks it offline and opens an incident. Every
    statement until every console has its three updates."""
    store = await make_store(services)
    group = await make_group(services)
    await make_device(
        services, store_id=store, group_id=group, last_seen_at=T0 - timedelta(hours=1)
    )
    await _until_listening(services, len(consoles))
    with count_queries(services) as counted:
        result = await run_sweep(services)
        assert len(result.went_offline) == 1 and len(result.opened) == 1
        for console in consoles:
            updates = {}
            for _ in LIVE:
                message = await console.receive()
                assert message["type"] == "next" and "errors" not in message["payload"], message
                updates[message["id"]] = message["payload"]["data"]
            assert updates["status"]["deviceStatusChanged"]["device"]["status"] == "OFFLINE"
            assert updates["incidents"]["incidentEvents"]["incident"]["device"]["status"] == (
                "OFFLINE"
            )
            assert updates["summary"]["fleetSummary"]["openIncidents"] >= 1
    return counted.statements


async def test_one_change_costs_the_same_sql_for_1_or_50_subscribers(services: Services) -> None:
    users = [await create_user_and_token(services, Role.VIEWER) for _ in range(50)]
    async with live_console(services) as url, AsyncExitStack() as stack:
        consoles = await _join(url, users[:1], stack)
        with_one = await _statements_for_one_change(services, consoles)

        consoles += await _join(url, users[1:], stack)
        with_fifty = await _statements_for_one_change(services, consoles)

    assert len(with_fifty) == len(with_one), "\n".join(
        difflib.unified_diff(with_one, with_fifty, "1 subscriber", "50 subscribers", lineterm="")
    )
    # The summary ran once, not once per console.
    assert sum("FROM incidents JOIN devices" in s for s in with_fifty) == 1
    # With the consoles gone, so is the shared summary and every event subscription.
    bus = EventBus(services.redis, services.keys)
    assert summary_feeds(services).producers() == 0
    assert bus.local_subscribers(DEVICE_STATUS) == bus.local_subscribers(INCIDENTS) == 0


async def _refused_with(console: GraphQLSocket) -> int | None:
    with pytest.raises(ConnectionClosed) as closed:
        async with asyncio.timeout(WAIT_S):
            await console.ws.recv()
    return closed.value.rcvd.code if closed.value.rcvd is not None else None


async def test_connections_are_capped_per_user_and_per_address(services: Services) -> None:
    alice = await create_user_and_token(services, Role.VIEWER)
    bob = await create_user_and_token(services, Role.VIEWER)
    caps = {"WS_MAX_CONNECTIONS_PER_USER": "2", "WS_MAX_CONNECTIONS_PER_ADDRESS": "3"}
    async with live_console(services, **caps) as url, AsyncExitStack() as stack:
        first = await stack.enter_async_context(open_socket(url, alice.token))
        await stack.enter_async_context(open_socket(url, alice.token))

        # A third socket for the same user is refused at connection_init, unacknowledged.
        async with open_socket(url) as third:
            await third.send(
                {"type": "connection_init", "payload": {"authorization": f"Bearer {alice.token}"}}
            )
            assert await _refused_with(third) == 4429

        # Another user may connect from the same address, up to the address's cap...
        await stack.enter_async_context(open_socket(url, bob.token))
        # ... and one more socket from this address is closed before any message.
        async with open_socket(url) as fourth:
            assert await _refused_with(fourth) == 4429

        # The refused sockets held nothing; the open ones still work.
        assert (await query(first, "me", "{ me { id } }"))["payload"]["data"]["me"] == {
            "id": str(alice.id)
        }
