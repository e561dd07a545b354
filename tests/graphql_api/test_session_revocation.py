"""Sessions obey revocation on open GraphQL websockets too (issue 12, item 4).

Over a real uvicorn server and a real graphql-transport-ws client:
- every operation re-checks the token and the user: after a disable, demotion or logout
  everywhere that no event announced (pub/sub loses messages), the next query or mutation is
  answered with an auth error, does not run, and the socket is closed with 4403;
- the same changes made through the API close the user's open sockets at once (4403), and
  only theirs, through the `sessions` channel;
- the socket is closed (4403) when its token expires, by time travel or by its timer;
- reusing a spent refresh token ends the user's access tokens over HTTP and websocket;
- the handshake accepts CONSOLE_ORIGINS and the API's own origin, refuses other origins
  (HTTP 403), and accepts clients that send no Origin (not browsers).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from websockets.exceptions import InvalidStatus

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import Role
from core.db.tables import stores, users
from tests.graphql_api.helpers import (
    TEST_PASSWORD,
    ConsoleUser,
    create_user,
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    login,
    mint_console_token,
)
from tests.graphql_api.live_console import close_code, live_console, open_socket, query
from tests.graphql_api.test_monitoring_subscriptions import FLEET_SUMMARY

ME = "query { me { id role } }"
CREATE_STORE = """
mutation($name: String!) {
  createStore(input: {name: $name, timezone: "Europe/Berlin"}) {
    __typename ... on Error { code }
  }
}
"""
REFRESH = """
mutation($token: String!) {
  refreshToken(refreshToken: $token) {
    __typename ... on AuthPayload { accessToken refreshToken } ... on Error { code }
  }
}
"""


async def _store_count(services: Services) -> int:
    async with services.engine.connect() as conn:
        return int(
            (await conn.execute(sa.select(sa.func.count()).select_from(stores))).scalar_one()
        )


async def _update_user(services: Services, user_id: uuid.UUID, **values: Any) -> None:
    """Change the user behind the API's back: what another process did while this one
    missed the announcement."""
    async with services.uow() as uow:
        await uow.conn.execute(sa.update(users).where(users.c.id == user_id).values(**values))
        await uow.commit()


UNANNOUNCED: dict[str, dict[str, Any]] = {
    "disabled": {"disabled": True},
    "demoted": {"role": Role.VIEWER.value, "token_epoch": users.c.token_epoch + 1},
    "logged_out_everywhere": {"token_epoch": users.c.token_epoch + 1},
}


@pytest.mark.parametrize("change", list(UNANNOUNCED))
@pytest.mark.parametrize("operation", ["query", "mutation"])
async def test_every_operation_rechecks_the_user(
    services: Services, change: str, operation: str
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    async with live_console(services) as url, open_socket(url, admin.token) as console:
        assert (await query(console, "before", ME))["payload"]["data"]["me"]["role"] == "ADMIN"

        await _update_user(services, admin.id, **UNANNOUNCED[change])
        if operation == "query":
            refused = await query(console, "after", ME)
        else:
            refused = await query(console, "after", CREATE_STORE, {"name": "Never"})

        assert refused["type"] == "error", refused
        assert [e["extensions"]["code"] for e in refused["payload"]] == ["INVALID_TOKEN"]
        assert await close_code(console) == 4403
    assert await _store_count(services) == 0  # the mutation did not run


async def test_the_current_role_applies_to_each_operation(services: Services) -> None:
    """A role read from the database per operation, not remembered from connection_init."""
    admin = await create_user_and_token(services, Role.ADMIN)
    async with live_console(services) as url, open_socket(url, admin.token) as console:
        await _update_user(services, admin.id, role=Role.VIEWER.value)  # same epoch
        denied = await query(console, "create", CREATE_STORE, {"name": "Never"})
        assert denied["payload"]["data"]["createStore"] == {
            "__typename": "PermissionDeniedError",
            "code": "FORBIDDEN",
        }
    assert await _store_count(services) == 0


async def _disable(api: httpx.AsyncClient, admin: ConsoleUser, victim: ConsoleUser) -> None:
    mutation = "mutation($id: UUID!) { disableUser(id: $id) { __typename } }"
    data = await gql_data(api, mutation, {"id": str(victim.id)}, token=admin.token)
    assert data["disableUser"]["__typename"] == "UserSuccess"


async def _demote(api: httpx.AsyncClient, admin: ConsoleUser, victim: ConsoleUser) -> None:
    mutation = """mutation($id: UUID!) {
      updateUserRole(id: $id, role: VIEWER) { __typename }
    }"""
    data = await gql_data(api, mutation, {"id": str(victim.id)}, token=admin.token)
    assert data["updateUserRole"]["__typename"] == "UserSuccess"


async def _logout_everywhere(
    api: httpx.AsyncClient, admin: ConsoleUser, victim: ConsoleUser
) -> None:
    mutation = "mutation { logout(everywhere: true) { __typename } }"
    data = await gql_data(api, mutation, token=victim.token)
    assert data["logout"]["__typename"] == "LogoutSuccess"


Change = Callable[[httpx.AsyncClient, ConsoleUser, ConsoleUser], Awaitable[None]]
ANNOUNCED: dict[str, Change] = {
    "disable": _disable,
    "change_role": _demote,
    "logout_everywhere": _logout_everywhere,
}


@pytest.mark.parametrize("change", list(ANNOUNCED))
async def test_open_sockets_of_the_user_close_at_once(
    services: Services, api_client: httpx.AsyncClient, change: str
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    victim = await create_user_and_token(services, Role.OPERATOR)
    async with (
        live_console(services) as url,
        open_socket(url, victim.token) as victim_socket,
        open_socket(url, admin.token) as admin_socket,
    ):
        await victim_socket.subscribe("live", FLEET_SUMMARY)
        assert (await victim_socket.next_data("live"))["fleetSummary"]["devicesTotal"] == 0

        await ANNOUNCED[change](api_client, admin, victim)

        # Closed without the victim sending anything: their live view ends with the session.
        assert await close_code(victim_socket) == 4403
        # Other users' sockets stay open and working.
        still = await query(admin_socket, "me", ME)
        assert still["payload"]["data"]["me"]["role"] == "ADMIN"


async def test_the_socket_closes_when_its_token_expires(
    services: Services, clock: FrozenClock
) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    async with live_console(services) as url:
        # Time travel: the next operation finds the token expired.
        async with open_socket(url, viewer.token) as console:
            clock.advance(timedelta(seconds=services.settings.console_access_ttl_s))
            refused = await query(console, "late", ME)
            assert refused["type"] == "error"
            assert [e["extensions"]["code"] for e in refused["payload"]] == ["TOKEN_EXPIRED"]
            assert await close_code(console) == 4403

        # The timer: a short-lived token closes its idle socket at its expiry.
        short = mint_console_token(services, viewer.id, Role.VIEWER, ttl_s=1)
        async with open_socket(url, short) as console:
            await console.subscribe("live", FLEET_SUMMARY)
            await console.next_data("live")
            assert await close_code(console) == 4403


async def test_reusing_a_spent_refresh_token_ends_the_users_access_tokens(
    services: Services, api_client: httpx.AsyncClient
) -> None:
    _, email = await create_user(services, role=Role.OPERATOR)
    first = await login(api_client, email, TEST_PASSWORD)
    other = await login(api_client, email, TEST_PASSWORD)  # another browser of the same user
    rotated = (await gql_data(api_client, REFRESH, {"token": first["refreshToken"]}))[
        "refreshToken"
    ]
    assert rotated["__typename"] == "AuthPayload"

    async with live_console(services) as url, open_socket(url, rotated["accessToken"]) as ws:
        # Whoever copied the spent refresh token replays it.
        replay = await gql_data(api_client, REFRESH, {"token": first["refreshToken"]})
        assert replay["refreshToken"] == {
            "__typename": "AuthenticationError",
            "code": "TOKEN_REUSED",
        }
        assert await close_code(ws) == 4403

    for token in (first["accessToken"], rotated["accessToken"], other["accessToken"]):
        assert error_codes(await gql(api_client, ME, token=token)) == ["INVALID_TOKEN"]
    # The reused family stays dead; the user's other session recovers with one refresh.
    dead = await gql_data(api_client, REFRESH, {"token": rotated["refreshToken"]})
    assert dead["refreshToken"]["code"] == "INVALID_TOKEN"
    renewed = await gql_data(api_client, REFRESH, {"token": other["refreshToken"]})
    token = renewed["refreshToken"]["accessToken"]
    assert (await gql_data(api_client, ME, token=token))["me"]["role"] == "OPERATOR"


CONSOLE = "https://console.example.com"


async def test_the_handshake_accepts_console_origins_and_refuses_others(
    services: Services,
) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    async with live_console(services, CONSOLE_ORIGINS=CONSOLE) as url:
        own_origin = "http://" + url.removeprefix("ws://").removesuffix("/graphql")
        for origin in (CONSOLE, own_origin, None):  # None: not a browser
            async with open_socket(url, viewer.token, origin=origin) as console:
                assert (await query(console, "me", ME))["payload"]["data"]["me"]["role"] == (
                    "VIEWER"
                )

        with pytest.raises(InvalidStatus) as refused:
            async with open_socket(url, viewer.token, origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403
