"""Wrong claim-code attempts and claim creation are rate-limited per client address."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
from sqlalchemy import select

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import audit_log
from core.pairing.attempts import CREATE_CLAIM_LIMIT, WRONG_CODE_LIMIT
from tests.device_edge.conftest import Placement, console_codes, error_of

CLAIM = "/v1/device/pairing/claim"


async def test_wrong_codes_are_limited_per_address_and_audited(
    services: Services,
    placement: Placement,
    clock: FrozenClock,
    client_at: Callable[[str], httpx.AsyncClient],
) -> None:
    attacker, neighbour = client_at("203.0.113.7"), client_at("198.51.100.2")
    good_a, good_b = await console_codes(services, placement, count=2)
    guesses = ["BBBBBBBB", "bbbb-bbbc", "not a code", "AEIOU123", "CCCCCCCC"] * 2
    assert len(guesses) == WRONG_CODE_LIMIT.limit
    for guess in guesses:
        response = await attacker.post(CLAIM, json={"claim_code": guess})
        assert response.status_code == 400, response.text
        assert error_of(response)["code"] == "invalid_grant"

    refused = await attacker.post(CLAIM, json={"claim_code": good_a})
    assert refused.status_code == 429
    error = error_of(refused)
    assert error["code"] == "rate_limited"
    retry_after = int(refused.headers["retry-after"])
    assert 0 < retry_after <= WRONG_CODE_LIMIT.window_s
    assert error["details"]["retry_after_s"] == retry_after

    # Another address is not affected.
    assert (await neighbour.post(CLAIM, json={"claim_code": good_b})).status_code == 200

    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(audit_log).where(audit_log.c.action == "device_claim.attempt_failed")
            )
        ).all()
    assert len(rows) == WRONG_CODE_LIMIT.limit
    assert {(r.actor_type, r.client_ip, r.actor_user_id) for r in rows} == {
        ("ANONYMOUS", "203.0.113.7", None)
    }
    assert {r.details_json["reason"] for r in rows} == {"unknown_code", "malformed_code"}

    clock.advance(timedelta(seconds=retry_after))
    assert (await attacker.post(CLAIM, json={"claim_code": good_a})).status_code == 200


async def test_patient_polling_is_never_limited(
    services: Services, clock: FrozenClock, client_at: Callable[[str], httpx.AsyncClient]
) -> None:
    player = client_at("192.0.2.10")
    claim = (await player.post("/v1/device/pairing/create-claim")).json()
    body = {"claim_code": claim["claim_code"], "device_code": claim["device_code"]}
    for _ in range(WRONG_CODE_LIMIT.limit * 2):
        response = await player.post(CLAIM, json=body)
        assert error_of(response)["code"] == "authorization_pending"
        clock.advance(timedelta(seconds=claim["interval"]))


async def test_claim_creation_is_limited_per_address(
    client_at: Callable[[str], httpx.AsyncClient],
) -> None:
    flood, other = client_at("203.0.113.99"), client_at("203.0.113.100")
    for _ in range(CREATE_CLAIM_LIMIT.limit):
        assert (await flood.post("/v1/device/pairing/create-claim")).status_code == 201
    refused = await flood.post("/v1/device/pairing/create-claim")
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert error_of(refused)["code"] == "rate_limited"
    assert (await other.post("/v1/device/pairing/create-claim")).status_code == 201
