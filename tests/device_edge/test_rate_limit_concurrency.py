"""Pairing failure budgets hold under concurrency and behind proxies (issue 12, item 5).

The rule is in `core.pairing.attempts`: slots are taken before a claim is evaluated; the
address budget refuses; the per-code and global budgets, shared by everyone, never refuse a
correct code, nor a poll carrying the right device secret.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from ipaddress import ip_network
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.types import Message, Receive, Scope, Send
from uvicorn import Config
from uvicorn.main import main as uvicorn_cli

from core.bootstrap import Services
from core.clock import FrozenClock
from core.config import Settings
from core.db.tables import audit_log
from core.pairing.attempts import CODE_FAILURE_LIMIT, WRONG_CODE_LIMIT
from core.pairing.codes import generate_claim_code
from ops.cli.processes import process_argv
from tests.device_edge.conftest import Placement, console_codes, error_of
from tests.device_edge.test_pairing_screen import approve, create, poll

CLAIM = "/v1/device/pairing/claim"


def wrong_codes(count: int) -> list[str]:
    """Well-formed codes that name no claim (20^8 codes: a collision is not a concern)."""
    return [generate_claim_code() for _ in range(count)]


async def failed_attempts(services: Services) -> int:
    """Evaluated wrong attempts: each one writes exactly one audit row."""
    async with services.engine.connect() as conn:
        return int(
            (
                await conn.execute(
                    select(func.count()).where(audit_log.c.action == "device_claim.attempt_failed")
                )
            ).scalar_one()
        )


def outcome(response: httpx.Response) -> str:
    """`evaluated` (400 invalid_grant), `limited` (429 with Retry-After) or the status."""
    if response.status_code == 400 and error_of(response)["code"] == "invalid_grant":
        return "evaluated"
    if response.status_code == 429:
        assert error_of(response)["code"] == "rate_limited"
        assert int(response.headers["retry-after"]) > 0
        return "limited"
    return str(response.status_code)


async def exhaust_global_budget(
    services: Services, client_at: Callable[[str], httpx.AsyncClient]
) -> None:
    """Wrong codes from as many addresses as it takes, each within its own budget."""
    limit = services.settings.pairing_global_failure_limit
    per_address = WRONG_CODE_LIMIT.limit
    bots = [client_at(f"198.18.0.{n + 1}") for n in range(-(-limit // per_address))]
    codes = iter(wrong_codes(limit))
    responses = await asyncio.gather(
        *(
            bots[n // per_address].post(CLAIM, json={"claim_code": next(codes)})
            for n in range(limit)
        )
    )
    assert [outcome(response) for response in responses] == ["evaluated"] * limit


async def test_concurrent_wrong_codes_from_one_address_evaluate_at_most_the_limit(
    services: Services, client_at: Callable[[str], httpx.AsyncClient]
) -> None:
    attacker = client_at("203.0.113.7")
    responses = await asyncio.gather(
        *(attacker.post(CLAIM, json={"claim_code": code}) for code in wrong_codes(100))
    )
    outcomes = [outcome(response) for response in responses]
    evaluated = outcomes.count("evaluated")
    assert set(outcomes) <= {"evaluated", "limited"}
    assert 1 <= evaluated <= WRONG_CODE_LIMIT.limit
    assert await failed_attempts(services) == evaluated


async def test_concurrent_wrong_codes_from_many_addresses_stop_at_the_global_budget(
    services: Services, client_at: Callable[[str], httpx.AsyncClient]
) -> None:
    limit = services.settings.pairing_global_failure_limit
    per_address = WRONG_CODE_LIMIT.limit // 2
    botnet = [client_at(f"198.51.100.{n}") for n in range(1, 2 * limit // per_address + 1)]
    responses = await asyncio.gather(
        *(
            bot.post(CLAIM, json={"claim_code": code})
            for bot in botnet
            for code in wrong_codes(per_address)
        )
    )
    assert len(responses) == 2 * limit
    outcomes = [outcome(response) for response in responses]
    assert set(outcomes) <= {"evaluated", "limited"}
    assert 1 <= outcomes.count("evaluated") <= limit
    assert await failed_attempts(services) == outcomes.count("evaluated")


async def test_a_correct_code_pairs_while_others_exhausted_the_global_budget(
    services: Services,
    placement: Placement,
    clock: FrozenClock,
    client_at: Callable[[str], httpx.AsyncClient],
) -> None:
    installer_code, other_code = await console_codes(services, placement, count=2)
    player = client_at("192.0.2.50")
    screen = await create(player)  # before the attack: creating claims has its own limit
    await exhaust_global_budget(services, client_at)
    before = await failed_attempts(services)

    # A wrong code is no longer evaluated, and costs its address the rest of the window...
    guesser = client_at("192.0.2.66")
    refused = await guesser.post(CLAIM, json={"claim_code": wrong_codes(1)[0]})
    assert outcome(refused) == "limited"
    assert outcome(await guesser.post(CLAIM, json={"claim_code": other_code})) == "limited"
    assert await failed_attempts(services) == before

    # ...while a correct code from anyone else pairs, and a screen still polls and pairs.
    installer = client_at("192.0.2.77")
    paired = await installer.post(CLAIM, json={"claim_code": installer_code})
    assert paired.status_code == 200, paired.text
    pending = await poll(player, screen)
    assert error_of(pending)["code"] == "authorization_pending"
    await approve(services, placement, screen["claim_code"], "Screen")
    clock.advance(timedelta(seconds=screen["interval"]))
    assert (await poll(player, screen)).status_code == 200


async def test_a_visible_code_tried_from_many_addresses_stops_at_its_budget(
    services: Services,
    placement: Placement,
    clock: FrozenClock,
    client_at: Callable[[str], httpx.AsyncClient],
) -> None:
    player = client_at("192.0.2.10")
    screen = await create(player)
    wrong_secret = {"claim_code": screen["claim_code"], "device_code": "x" * 43}
    responses = await asyncio.gather(
        *(
            client_at(f"203.0.113.{n}").post(CLAIM, json=wrong_secret)
            for n in range(1, 2 * CODE_FAILURE_LIMIT.limit + 1)
        )
    )
    outcomes = [outcome(response) for response in responses]
    assert set(outcomes) <= {"evaluated", "limited"}
    assert 1 <= outcomes.count("evaluated") <= CODE_FAILURE_LIMIT.limit
    assert outcomes.count("limited") >= CODE_FAILURE_LIMIT.limit

    assert error_of(await poll(player, screen))["code"] == "authorization_pending"
    await approve(services, placement, screen["claim_code"], "Screen")
    clock.advance(timedelta(seconds=screen["interval"]))
    assert (await poll(player, screen)).status_code == 200


async def test_the_right_device_secret_is_never_refused_for_its_neighbours_failures(
    services: Services,
    placement: Placement,
    clock: FrozenClock,
    client_at: Callable[[str], httpx.AsyncClient],
) -> None:
    store_nat = "192.0.2.99"  # the player and a misbehaving host behind one address
    player, neighbour = client_at(store_nat), client_at(store_nat)
    screen = await create(player)
    for code in wrong_codes(WRONG_CODE_LIMIT.limit):
        assert outcome(await neighbour.post(CLAIM, json={"claim_code": code})) == "evaluated"
    assert outcome(await neighbour.post(CLAIM, json={"claim_code": "BBBBBBBB"})) == "limited"

    for _ in range(3):
        assert error_of(await poll(player, screen))["code"] == "authorization_pending"
        clock.advance(timedelta(seconds=screen["interval"]))
    await approve(services, placement, screen["claim_code"], "Screen")
    assert (await poll(player, screen)).status_code == 200


async def test_a_burst_of_correct_codes_from_one_address_is_not_refused(
    services: Services, placement: Placement, client_at: Callable[[str], httpx.AsyncClient]
) -> None:
    """A store pairing many players at once from one address: more correct exchanges in
    flight than the address budget has slots, none of them refused."""
    site = client_at("192.0.2.200")
    codes = await console_codes(services, placement, count=3 * WRONG_CODE_LIMIT.limit)
    responses = await asyncio.gather(*(site.post(CLAIM, json={"claim_code": c}) for c in codes))
    assert [response.status_code for response in responses] == [200] * len(codes)


# --- X-Forwarded-For -------------------------------------------------------------------------


@pytest.fixture
async def proxied_at(
    services: Services, settings: Settings
) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients of an edge that trusts the proxies of 10.0.0.0/8 (TRUSTED_PROXIES)."""
    from device_edge.app import create_app

    trusting = settings.model_copy(update={"trusted_proxies": [ip_network("10.0.0.0/8")]})
    app = create_app(settings=trusting, services=services)
    clients: list[httpx.AsyncClient] = []

    def make(peer: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(peer, 40000))
        clients.append(httpx.AsyncClient(transport=transport, base_url="http://edge.test"))
        return clients[-1]

    yield make
    for client in clients:
        await client.aclose()


async def audited_addresses(services: Services) -> set[str | None]:
    async with services.engine.connect() as conn:
        rows = await conn.execute(
            select(audit_log.c.client_ip).where(audit_log.c.action == "device_claim.attempt_failed")
        )
        return {row.client_ip for row in rows}


async def guess(client: httpx.AsyncClient, forwarded_for: str | None = None) -> str:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    body = {"claim_code": wrong_codes(1)[0]}
    return outcome(await client.post(CLAIM, json=body, headers=headers))


async def test_forwarded_for_is_ignored_by_default_and_believed_only_from_trusted_proxies(
    services: Services,
    client_at: Callable[[str], httpx.AsyncClient],
    proxied_at: Callable[[str], httpx.AsyncClient],
) -> None:
    # No TRUSTED_PROXIES: a made-up X-Forwarded-For does not buy a fresh budget.
    direct = client_at("10.9.9.9")
    for n in range(WRONG_CODE_LIMIT.limit):
        assert await guess(direct, f"203.0.113.{n + 1}") == "evaluated"
    assert await guess(direct, "203.0.113.200") == "limited"
    assert await audited_addresses(services) == {"10.9.9.9"}

    # Behind a trusted proxy, the client is the right-most untrusted address...
    proxy = proxied_at("10.0.0.2")
    for _ in range(WRONG_CODE_LIMIT.limit):
        assert await guess(proxy, "203.0.113.5") == "evaluated"
    assert await guess(proxy, "203.0.113.5") == "limited"
    # ...whatever the client wrote to the left of what the proxies appended...
    assert await guess(proxy, "198.51.100.1, 203.0.113.5") == "limited"
    assert await guess(proxy, "198.51.100.1, 203.0.113.5, 10.0.0.3") == "limited"
    # ...so another client of the same proxy keeps its own budget.
    assert await guess(proxy, "203.0.113.6") == "evaluated"
    assert await audited_addresses(services) == {"10.9.9.9", "203.0.113.5", "203.0.113.6"}

    # A peer that is not a trusted proxy is its own client, X-Forwarded-For or not.
    stranger = proxied_at("192.0.2.44")
    assert await guess(stranger, "203.0.113.6") == "evaluated"
    assert "192.0.2.44" in await audited_addresses(services)


async def test_the_servers_signage_starts_leave_forwarded_for_to_the_apps(
    settings: Settings,
) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default, before the app runs: the
    processes `signage` starts must not, or TRUSTED_PROXIES would not be the only rule."""
    seen: list[Any] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["client"])

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        pass

    for kind in ("api", "edge"):
        argv = process_argv(kind, settings)
        options = uvicorn_cli.make_context("uvicorn", argv[argv.index("uvicorn") + 1 :]).params
        config = Config(
            app,
            proxy_headers=options["proxy_headers"],
            forwarded_allow_ips=options["forwarded_allow_ips"],
            log_config=None,
            lifespan="off",
        )
        config.load()
        scope = {
            "type": "http",
            "client": ("127.0.0.1", 50000),
            "headers": [(b"x-forwarded-for", b"203.0.113.9")],
        }
        await config.loaded_app(scope, receive, send)
    assert seen == [("127.0.0.1", 50000)] * 2
