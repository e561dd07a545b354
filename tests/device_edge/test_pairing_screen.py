"""Screen-code flow (RFC 8628 style): every poll answer, approval and denial."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import audit_log, device_claims, devices
from core.kernel.actor import Actor
from core.pairing.console import approve_claim, deny_claim
from core.security.tokens import hash_secret
from tests.conftest import T0
from tests.device_edge.conftest import Placement, error_of

CREATE = "/v1/device/pairing/create-claim"
CLAIM = "/v1/device/pairing/claim"


async def create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await client.post(CREATE, json=body) if body else await client.post(CREATE)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def poll(client: httpx.AsyncClient, claim: dict[str, Any], **extra: Any) -> httpx.Response:
    body = {"claim_code": claim["claim_code"], "device_code": claim["device_code"], **extra}
    return await client.post(CLAIM, json=body)


def poll_answer(response: httpx.Response) -> tuple[str, int | None]:
    assert response.status_code == 400, response.text
    error = error_of(response)
    return error["code"], (error.get("details") or {}).get("interval")


async def approve(services: Services, placement: Placement, code: str, name: str) -> None:
    await approve_claim(
        services,
        Actor.system(),
        claim_code=code,
        store_id=placement.store_id,
        group_id=placement.group_id,
        name=name,
    )


async def test_create_claim_answers_a_code_and_a_secret_stored_only_as_hash(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    claim = await create(
        edge_client, device_info={"os": "android", "screen": {"width_px": 1920, "height_px": 1080}}
    )
    assert re.fullmatch("[BCDFGHJKLMNPQRSTVWXZ]{8}", claim["claim_code"])
    assert claim["claim_code_display"] == f"{claim['claim_code'][:4]}-{claim['claim_code'][4:]}"
    assert len(claim["device_code"]) >= 43
    assert claim["expires_at"] == (T0 + timedelta(seconds=900)).isoformat().replace("+00:00", "Z")
    assert (claim["expires_in"], claim["interval"]) == (900, 5)
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(device_claims))).one()
    assert row.flow == "SCREEN" and row.status == "PENDING"
    assert row.device_code_hash == hash_secret(claim["device_code"])
    assert claim["device_code"] not in str(tuple(row))
    assert row.device_info_json == {
        "os": "android",
        "screen": {"width_px": 1920, "height_px": 1080},
    }


async def test_create_claim_without_a_body(edge_client: httpx.AsyncClient) -> None:
    claim = await create(edge_client)
    assert claim["claim_code"] != (await create(edge_client))["claim_code"]


async def test_poll_pending_slow_down_then_approved(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement, clock: FrozenClock
) -> None:
    claim = await create(edge_client, device_info={"os": "webos", "player_version": "1.0"})
    assert poll_answer(await poll(edge_client, claim)) == ("authorization_pending", 5)
    clock.advance(timedelta(seconds=2))
    assert poll_answer(await poll(edge_client, claim)) == ("slow_down", 10)
    clock.advance(timedelta(seconds=6))  # 6 s < the new 10 s interval
    assert poll_answer(await poll(edge_client, claim)) == ("slow_down", 15)
    clock.advance(timedelta(seconds=15))
    assert poll_answer(await poll(edge_client, claim)) == ("authorization_pending", 15)

    await approve(services, placement, claim["claim_code_display"].lower(), "Window left")
    clock.advance(timedelta(seconds=15))
    response = await poll(edge_client, claim)
    assert response.status_code == 200, response.text
    device_id = uuid.UUID(response.json()["device_id"])
    async with services.engine.connect() as conn:
        device = (await conn.execute(select(devices).where(devices.c.id == device_id))).one()
    assert (device.store_id, device.group_id) == (placement.store_id, placement.group_id)
    assert device.external_name == "Window left"
    assert device.device_info_json == {"os": "webos", "player_version": "1.0"}

    clock.advance(timedelta(seconds=15))
    again = await poll(edge_client, claim)
    assert again.status_code == 409 and error_of(again)["code"] == "invalid_grant"


async def test_poll_denied(
    edge_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    claim = await create(edge_client)
    await deny_claim(services, Actor.system(), claim_code=claim["claim_code"])
    assert poll_answer(await poll(edge_client, claim))[0] == "access_denied"
    clock.advance(timedelta(seconds=1))  # no slow_down for a final answer
    assert poll_answer(await poll(edge_client, claim))[0] == "access_denied"


async def test_poll_expired(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement, clock: FrozenClock
) -> None:
    claim = await create(edge_client)
    clock.advance(timedelta(seconds=899))
    assert poll_answer(await poll(edge_client, claim))[0] == "authorization_pending"
    clock.advance(timedelta(seconds=1))
    assert poll_answer(await poll(edge_client, claim))[0] == "expired_token"


async def test_approved_but_expired_claim_gives_no_tokens(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement, clock: FrozenClock
) -> None:
    claim = await create(edge_client)
    await approve(services, placement, claim["claim_code"], "Late")
    clock.advance(timedelta(seconds=900))
    assert poll_answer(await poll(edge_client, claim))[0] == "expired_token"


async def test_a_code_read_off_the_screen_is_useless_without_the_device_secret(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    claim = await create(edge_client)
    await approve(services, placement, claim["claim_code"], "Counter")
    onlooker = await edge_client.post(CLAIM, json={"claim_code": claim["claim_code"]})
    assert onlooker.status_code == 400 and error_of(onlooker)["code"] == "invalid_grant"
    wrong = await poll(edge_client, {**claim, "device_code": "A" * 43})
    assert wrong.status_code == 400 and error_of(wrong)["code"] == "invalid_grant"
    # The device itself still gets its tokens.
    assert (await poll(edge_client, claim)).status_code == 200
    async with services.engine.connect() as conn:
        reasons = (
            await conn.execute(
                select(audit_log.c.details_json["reason"].astext, audit_log.c.actor_type)
                .where(audit_log.c.action == "device_claim.attempt_failed")
                .order_by(audit_log.c.id)
            )
        ).all()
    assert [tuple(r) for r in reasons] == [
        ("device_code_missing", "ANONYMOUS"),
        ("wrong_device_code", "ANONYMOUS"),
    ]
