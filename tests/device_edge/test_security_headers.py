"""Both apps send the standard security headers on every response: successes, errors, the
edge's plan 304 shortcut (which runs ahead of the middleware) and an outage's 503; the dev
GraphiQL page brings its own CSP; HSTS only where the public URL is https."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from core.bootstrap import Services
from core.config import Settings
from core.db.enums import Role
from device_edge.app import create_app as create_edge
from device_edge.routes.plan import PATH as PLAN_PATH
from graphql_api.app import create_app as create_api
from tests.device_edge.conftest import HEARTBEAT, Paired
from tests.graphql_api.helpers import create_user_and_token, mint_device_token
from tests.outages import services_without_redis
from tests.plans.builders import make_world

STANDARD = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "cross-origin-resource-policy": "same-origin",
}


def assert_secured(response: httpx.Response) -> None:
    shown = {name: response.headers.get(name) for name in STANDARD}
    assert shown == STANDARD, (response.status_code, response.request.url, shown)
    assert "strict-transport-security" not in response.headers  # public URLs are http here


def client_for(app: object, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)  # type: ignore[arg-type]


# --- device edge -------------------------------------------------------------------------------


async def test_edge_successes_and_errors_carry_the_headers(
    edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    ok = await edge_client.post("/v1/device/heartbeat", json=HEARTBEAT, headers=paired.auth)
    assert ok.status_code == 200
    assert_secured(ok)
    assert_secured(await edge_client.get("/healthz"))
    assert_secured(await edge_client.get("/v1/device/openapi.json"))

    unauthenticated = await edge_client.post("/v1/device/heartbeat", json=HEARTBEAT)
    assert unauthenticated.status_code == 401
    assert_secured(unauthenticated)
    invalid = await edge_client.post(
        "/v1/device/heartbeat", json={"disk_used_bytes": "lots"}, headers=paired.auth
    )
    assert invalid.status_code == 422
    assert_secured(invalid)
    no_route = await edge_client.get("/v1/device/nothing-here")
    assert no_route.status_code == 404
    assert_secured(no_route)
    wrong_method = await edge_client.delete("/v1/device/heartbeat")
    assert wrong_method.status_code == 405
    assert_secured(wrong_method)


async def test_the_plan_304_shortcut_carries_the_same_headers(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    world = await make_world(services, 1)
    [device] = world.device_ids
    auth = {"Authorization": f"Bearer {mint_device_token(services, device)}"}
    full = await edge_client.get(PLAN_PATH, headers=auth)  # caches the ETag for the shortcut
    assert full.status_code == 200
    assert_secured(full)

    not_modified = await edge_client.get(
        PLAN_PATH, headers={**auth, "If-None-Match": full.headers["etag"]}
    )
    assert not_modified.status_code == 304
    assert not_modified.headers["etag"] == full.headers["etag"]
    assert_secured(not_modified)


async def test_an_outage_503_carries_the_headers(services: Services, paired: Paired) -> None:
    async with (
        services_without_redis(services) as broken,
        client_for(create_edge(services=broken), "http://edge.test") as client,
    ):
        response = await client.post("/v1/device/heartbeat", json=HEARTBEAT, headers=paired.auth)
    assert response.status_code == 503
    assert_secured(response)


# --- admin API ---------------------------------------------------------------------------------


async def test_api_successes_and_refusals_carry_the_headers(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    ok = await api_client.post(
        "/graphql",
        json={"query": "{ me { role } }"},
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert ok.status_code == 200 and ok.json()["data"] == {"me": {"role": "VIEWER"}}
    assert_secured(ok)
    assert_secured(await api_client.get("/healthz"))

    graphql_error = await api_client.post("/graphql", json={"query": "{ nope }"})
    assert graphql_error.status_code == 200 and graphql_error.json()["errors"]
    assert_secured(graphql_error)
    batch = await api_client.post("/graphql", json=[{"query": "{ me { id } }"}] * 2)
    assert batch.status_code == 400
    assert_secured(batch)
    limit = services.settings.max_request_bytes
    too_large = await api_client.post(
        "/graphql", content=b" " * (limit + 1), headers={"Content-Type": "application/json"}
    )
    assert too_large.status_code == 413
    assert_secured(too_large)
    no_route = await api_client.get("/nothing-here")
    assert no_route.status_code == 404
    assert_secured(no_route)
    upload = await api_client.put("/v1/admin/uploads/content/x/y.png", content=b"x")
    assert upload.status_code == 403
    assert_secured(upload)


async def test_graphiql_gets_a_csp_that_lets_it_load_and_nothing_more(
    api_client: httpx.AsyncClient,
) -> None:
    page = await api_client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()
    csp = {
        directive.split()[0]: directive.split()[1:]
        for directive in page.headers["content-security-policy"].split("; ")
    }
    assert "https://unpkg.com" in csp["script-src"]  # where the page loads GraphiQL from
    assert "https://unpkg.com" in page.text
    assert "'self'" in csp["connect-src"]
    assert csp["default-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["x-content-type-options"] == "nosniff"


# --- HSTS -------------------------------------------------------------------------------------


def with_env(services: Services, **env: str) -> Services:
    settings = Settings.model_validate({**services.settings.model_dump(by_alias=True), **env})
    return dataclasses.replace(services, settings=settings)


@pytest.fixture
async def https_clients(
    services: Services,
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    secured = with_env(
        services,
        PUBLIC_API_URL="https://api.example.com",
        PUBLIC_EDGE_URL="https://edge.example.com",
        HSTS_MAX_AGE_S="600",
    )
    async with (
        client_for(create_api(services=secured), "http://api.test") as api,
        client_for(create_edge(services=secured), "http://edge.test") as edge,
    ):
        yield api, edge


async def test_hsts_is_sent_when_the_public_url_is_https(
    https_clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    api, edge = https_clients
    for response in (
        await api.get("/healthz"),
        await api.post("/graphql", content=b"{", headers={"Content-Type": "application/json"}),
        await edge.get("/healthz"),
        await edge.get("/v1/device/nothing-here"),
    ):
        assert response.headers["strict-transport-security"] == "max-age=600"


async def test_hsts_can_be_turned_off(services: Services) -> None:
    off = with_env(services, PUBLIC_API_URL="https://api.example.com", HSTS_MAX_AGE_S="0")
    async with client_for(create_api(services=off), "http://api.test") as api:
        response = await api.get("/healthz")
    assert response.status_code == 200
    assert "strict-transport-security" not in response.headers
    assert json.loads(response.content) == {"status": "ok"}
