"""Login budgets hold under concurrency and behind proxies (issue 12, item 5).

The rule is in `core.identity.throttle`: both slots (address, email) are taken before the
Argon2 check; failures keep them, successes give them back.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log
from core.identity.throttle import DEFAULT_LOGIN_THROTTLE
from tests.graphql_api.helpers import LOGIN, TEST_PASSWORD, create_user

PER_EMAIL = DEFAULT_LOGIN_THROTTLE.max_failures_per_email
PER_ADDRESS = DEFAULT_LOGIN_THROTTLE.max_failures_per_ip


async def login_as(
    client: httpx.AsyncClient, email: str, password: str, forwarded_for: str | None = None
) -> dict[str, Any]:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    response = await client.post(
        "/graphql",
        json={"query": LOGIN, "variables": {"email": email, "password": password}},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()["data"]["login"]
    return result


def outcome(result: dict[str, Any]) -> str:
    """`evaluated` (the credentials were checked and refused), `limited` or `signed_in`."""
    if result["__typename"] == "AuthPayload":
        return "signed_in"
    if result["__typename"] == "RateLimitedError":
        assert result["code"] == "RATE_LIMITED" and result["retryAfterSeconds"] > 0
        return "limited"
    assert result["code"] == "INVALID_CREDENTIALS", result
    return "evaluated"


async def failure_reasons(services: Services) -> list[str]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            sa.select(audit_log.c.details_json).where(audit_log.c.action == "auth.login_failed")
        )
        return [row.details_json["reason"] for row in rows]


@pytest.fixture
async def client_at(services: Services) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    """Clients of the admin API from a chosen peer address, optionally built with settings
    that trust the proxies of 10.0.0.0/8 (TRUSTED_PROXIES)."""
    from graphql_api.app import create_app

    default = create_app(services=services)
    trusting = services.settings.model_copy(update={"trusted_proxies": [ip_network("10.0.0.0/8")]})
    proxied = create_app(settings=trusting, services=services)
    clients: list[httpx.AsyncClient] = []

    def make(peer: str, *, behind_trusted_proxies: bool = False) -> httpx.AsyncClient:
        app = proxied if behind_trusted_proxies else default
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://api.test"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


async def test_concurrent_wrong_passwords_for_one_email_evaluate_at_most_its_budget(
    services: Services, client_at: Callable[..., httpx.AsyncClient]
) -> None:
    _, email = await create_user(services, role=Role.VIEWER)
    botnet = [client_at(f"198.51.100.{n}") for n in range(1, 41)]
    results = await asyncio.gather(
        *(login_as(bot, email, f"wrong-password-{n}") for n, bot in enumerate(botnet))
    )
    outcomes = [outcome(result) for result in results]
    assert set(outcomes) <= {"evaluated", "limited"}
    assert 1 <= outcomes.count("evaluated") <= PER_EMAIL
    assert (await failure_reasons(services)).count("bad_password") == outcomes.count("evaluated")
    # The budget is spent: even the right password waits for the window.
    assert outcome(await login_as(client_at("192.0.2.1"), email, TEST_PASSWORD)) == "limited"


async def test_successful_logins_do_not_use_up_the_address_budget(
    services: Services, client_at: Callable[..., httpx.AsyncClient]
) -> None:
    office = client_at("192.0.2.80")  # one NAT address for a whole team
    _, email = await create_user(services, role=Role.VIEWER)
    for _ in range(PER_ADDRESS + 5):
        assert outcome(await login_as(office, email, TEST_PASSWORD)) == "signed_in"


async def test_forwarded_for_counts_only_from_trusted_proxies(
    services: Services, client_at: Callable[..., httpx.AsyncClient]
) -> None:
    _, email = await create_user(services, role=Role.VIEWER)

    # Behind a trusted proxy, each forwarded client has its own budget...
    proxy = client_at("10.0.0.2", behind_trusted_proxies=True)
    for n in range(PER_ADDRESS):
        result = await login_as(proxy, f"guess{n}@example.test", "whatever-pw", "203.0.113.5")
        assert outcome(result) == "evaluated"
    assert outcome(await login_as(proxy, email, TEST_PASSWORD, "203.0.113.5")) == "limited"
    # ...that a client cannot leave by writing another address in front...
    spoofed = "198.51.100.1, 203.0.113.5"
    assert outcome(await login_as(proxy, email, TEST_PASSWORD, spoofed)) == "limited"
    assert outcome(await login_as(proxy, email, TEST_PASSWORD, "203.0.113.6")) == "signed_in"

    # ...and X-Forwarded-For from a peer that is not a trusted proxy names nobody.
    stranger = client_at("192.0.2.9", behind_trusted_proxies=True)
    assert outcome(await login_as(stranger, email, TEST_PASSWORD, "203.0.113.5")) == "signed_in"
    direct = client_at("10.0.0.2")  # no TRUSTED_PROXIES: even a 10/8 peer is only itself
    assert outcome(await login_as(direct, email, TEST_PASSWORD, "203.0.113.5")) == "signed_in"
