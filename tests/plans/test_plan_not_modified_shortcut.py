"""The plan poll's 304 shortcut (`answered_not_modified`, ahead of Starlette's stack).

It may only ever answer the success case, identically to the full route; every other
request must fall through, so that revocation, expiry and backend outages keep their
answers from the full stack.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from core.bootstrap import Services
from core.clock import FrozenClock
from core.devices.heartbeat import plan_etag_key
from core.devices.token_epoch import revoke_device_tokens
from device_edge.app import create_app
from device_edge.routes.plan import PATH, answered_not_modified
from tests.graphql_api.helpers import mint_device_token
from tests.outages import services_without_redis
from tests.plans.builders import make_world

SHOWN_HEADERS = ("etag", "cache-control", "vary", "content-length", "content-type")


def scope_for(app: Starlette, token: str | None, if_none_match: str | None) -> dict[str, Any]:
    headers = [(b"host", b"edge.test")]
    if token is not None:
        headers.append((b"authorization", f"Bearer {token}".encode()))
    if if_none_match is not None:
        headers.append((b"if-none-match", if_none_match.encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("edge.test", 80),
    }


async def shortcut(
    app: Starlette, token: str | None, if_none_match: str | None
) -> tuple[bool, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    answered = await answered_not_modified(app, scope_for(app, token, if_none_match), send)
    return answered, sent


@dataclass(frozen=True)
class Polling:
    """A device that fetched its plan once: its epoch and ETag are now cached in Redis."""

    device: uuid.UUID
    token: str
    etag: str  # as the ETag header carries it, quoted

    @property
    def conditional(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "If-None-Match": self.etag}


@pytest.fixture
async def polling(services: Services, edge_client: httpx.AsyncClient) -> Polling:
    world = await make_world(services, 1)
    [device] = world.device_ids
    token = mint_device_token(services, device)
    response = await edge_client.get(PATH, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    return Polling(device, token, response.headers["etag"])


async def test_the_shortcut_answers_the_304_with_the_full_routes_headers(
    services: Services, edge_client: httpx.AsyncClient, polling: Polling
) -> None:
    app = create_app(services=services)
    device, token, etag = polling.device, polling.token, polling.etag

    answered, sent = await shortcut(app, token, etag)
    assert answered
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 304 and sent[1]["body"] == b""
    fast = {name.decode(): value.decode() for name, value in sent[0]["headers"]}

    # Without the cached ETag the shortcut steps aside and the full route answers the 304
    # (from the stored plan); both answers carry the same headers.
    await services.redis.delete(plan_etag_key(services.keys, device))
    assert await shortcut(app, token, etag) == (False, [])
    full = await edge_client.get(PATH, headers=polling.conditional)
    assert full.status_code == 304 and full.content == b""
    assert {k: v for k, v in full.headers.items() if k in SHOWN_HEADERS} == fast
    assert fast["etag"] == etag


async def test_anything_but_the_success_case_falls_through_untouched(
    services: Services, edge_client: httpx.AsyncClient, polling: Polling
) -> None:
    app = create_app(services=services)
    device, token, etag = polling.device, polling.token, polling.etag

    for case_token, condition in (
        (token, None),  # unconditional: the full plan
        (None, etag),  # no token: 401 from the full stack
        ("not-a-jwt", etag),
        (token, '"sha256-stale"'),
        (mint_device_token(services, uuid.uuid4()), etag),  # unknown device
        (mint_device_token(services, device, epoch=7), etag),  # epoch from nowhere
    ):
        assert await shortcut(app, case_token, condition) == (False, []), (case_token, condition)


async def test_a_revoked_device_gets_401_not_304_even_with_the_current_etag(
    services: Services, edge_client: httpx.AsyncClient, polling: Polling
) -> None:
    headers = polling.conditional
    assert (await edge_client.get(PATH, headers=headers)).status_code == 304

    async with services.uow() as uow:
        await revoke_device_tokens(
            uow, services.redis, services.keys, services.clock, polling.device
        )
        await uow.commit()
    response = await edge_client.get(PATH, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_revoked"


async def test_an_expired_token_gets_401_not_304(
    services: Services,
    edge_client: httpx.AsyncClient,
    clock: FrozenClock,
    polling: Polling,
) -> None:
    headers = polling.conditional
    assert (await edge_client.get(PATH, headers=headers)).status_code == 304

    clock.advance(timedelta(hours=1))  # past the token's 15 minutes
    response = await edge_client.get(PATH, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


async def test_an_unreachable_redis_on_a_conditional_poll_is_a_503(services: Services) -> None:
    async with services_without_redis(services) as broken:
        token = mint_device_token(broken, uuid.uuid4())
        app = create_app(services=broken)
        assert await shortcut(app, token, '"sha256-any"') == (False, [])
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge.test"
        ) as client:
            response = await client.get(
                PATH, headers={"Authorization": f"Bearer {token}", "If-None-Match": "*"}
            )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"


async def test_the_edge_app_serves_the_304_without_building_starlettes_stack(
    services: Services, edge_client: httpx.AsyncClient, polling: Polling
) -> None:
    app = create_app(services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://edge.test"
    ) as client:
        assert (await client.get(PATH, headers=polling.conditional)).status_code == 304
        # Starlette builds its middleware stack on the first request that reaches it.
        assert app.middleware_stack is None
        unconditional = {"Authorization": f"Bearer {polling.token}"}
        assert (await client.get(PATH, headers=unconditional)).is_success
        assert app.middleware_stack is not None
