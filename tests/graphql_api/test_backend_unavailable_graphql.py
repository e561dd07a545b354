"""A backend out of reach is a typed, retryable GraphQL error (UNAVAILABLE with
retryAfterSeconds), never INTERNAL_ERROR: in `login`'s result union as UnavailableError, at
the top level elsewhere, and readable in production too (nothing of the driver's message).
After the backend returns, the next operation succeeds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from core.bootstrap import Services, build_services
from core.config import Environment
from core.db.enums import Role
from graphql_api.app import create_app
from tests.graphql_api.helpers import (
    TEST_PASSWORD,
    create_user,
    create_user_and_token,
    gql,
)
from tests.outages import (
    OutageProxy,
    answered,
    assert_unavailable_result,
    closed_port,
    login_outcome,
    services_without_redis,
)


@asynccontextmanager
async def _api(services: Services, *, production: bool = False) -> AsyncIterator[httpx.AsyncClient]:
    settings = services.settings
    if production:
        settings = settings.model_copy(update={"env": Environment.PRODUCTION})
    app = create_app(settings=settings, services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client


@asynccontextmanager
async def _services_without_postgres(services: Services) -> AsyncIterator[Services]:
    assert services.settings.database_url is not None
    from sqlalchemy.engine import make_url

    url = make_url(services.settings.database_url).set(host="127.0.0.1", port=closed_port())
    settings = services.settings.model_copy(
        update={"database_url": url.render_as_string(hide_password=False)}
    )
    broken = build_services(settings, clock=services.clock)
    try:
        yield broken
    finally:
        await broken.close()


async def test_login_with_postgres_unreachable_is_unavailable(services: Services) -> None:
    _, email = await create_user(services, role=Role.OPERATOR)
    async with _services_without_postgres(services) as broken, _api(broken) as client:
        assert_unavailable_result(await login_outcome(client, email, TEST_PASSWORD))


async def test_login_with_redis_unreachable_is_unavailable(services: Services) -> None:
    _, email = await create_user(services, role=Role.OPERATOR)
    async with services_without_redis(services) as broken, _api(broken) as client:
        assert_unavailable_result(await login_outcome(client, email, TEST_PASSWORD))


async def test_login_on_a_frozen_database_is_unavailable_then_succeeds(
    services: Services, postgres_proxy: OutageProxy, outage_api: httpx.AsyncClient
) -> None:
    _, email = await create_user(services, role=Role.OPERATOR)
    assert (await login_outcome(outage_api, email, TEST_PASSWORD))["__typename"] == "AuthPayload"
    await postgres_proxy.freeze()
    assert_unavailable_result(await login_outcome(outage_api, email, TEST_PASSWORD))
    await postgres_proxy.restore()
    assert (await login_outcome(outage_api, email, TEST_PASSWORD))["__typename"] == "AuthPayload"


REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) { __typename }
}
"""


def _assert_unavailable_error(body: dict[str, Any]) -> None:
    [error] = body["errors"]
    assert error["extensions"]["code"] == "UNAVAILABLE", body
    assert error["extensions"]["retryAfterSeconds"] > 0
    assert "127.0.0.1" not in error["message"] and "refused" not in error["message"], error


async def test_an_operation_without_the_type_in_its_union_has_a_top_level_unavailable_error(
    services: Services,
) -> None:
    """Outside a result union the top-level error carries the code and the delay; production
    masking leaves it readable, without the driver's message."""
    async with _services_without_postgres(services) as broken:
        for production in (False, True):
            async with _api(broken, production=production) as client:
                body = await answered(gql(client, REFRESH, {"token": "x" * 40}))
            _assert_unavailable_error(body)


async def test_a_signed_in_request_with_postgres_unreachable_is_a_503(services: Services) -> None:
    """The bearer token is checked against the database before any operation runs: no
    operation, so a 503 + Retry-After with the same error shape."""
    user = await create_user_and_token(services, Role.ADMIN)
    async with _services_without_postgres(services) as broken, _api(broken) as client:
        response = await answered(
            client.post(
                "/graphql",
                json={"query": "query Me { me { id } }"},
                headers={"Authorization": f"Bearer {user.token}"},
            )
        )
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    _assert_unavailable_error(response.json())
