"""Installer (console) flow, and the seeds' pairing acceptance tests."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import timedelta

import httpx
import jwt
from sqlalchemy import func, select

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import audit_log, device_claims, device_refresh_tokens, devices
from core.kernel.actor import Actor
from core.pairing.console import deny_claim
from core.security.tokens import TokenKind, TokenService, hash_secret
from tests.device_edge.conftest import HEARTBEAT, Placement, console_codes, error_of

CLAIM = "/v1/device/pairing/claim"


async def test_claim_code_exchanges_for_a_valid_device_token(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    [code] = await console_codes(services, placement, name="Entrance")
    info = {"os": "linux", "model": "RPi 5", "player_version": "2.4.1"}
    response = await edge_client.post(CLAIM, json={"claim_code": code, "device_info": info})

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"device_id", "device_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == services.settings.device_access_ttl_s == 900
    verified = TokenService(services.settings, services.clock).verify(
        body["device_token"], TokenKind.DEVICE_ACCESS
    )
    assert verified.subject == body["device_id"]
    assert jwt.get_unverified_header(body["device_token"]) == {
        "alg": "HS256",
        "kid": "k1",
        "typ": "JWT",
    }
    claims = verified.claims
    assert claims["epoch"] == 0
    assert claims["store_id"] == str(placement.store_id)
    assert claims["aud"] == "signage-device-edge" and claims["iss"] == "alive-signage"
    assert claims["exp"] - claims["iat"] == 900 and claims["jti"]

    device_id = uuid.UUID(body["device_id"])
    async with services.engine.connect() as conn:
        device = (await conn.execute(select(devices).where(devices.c.id == device_id))).one()
        claim = (
            await conn.execute(select(device_claims).where(device_claims.c.claim_code == code))
        ).one()
        refresh = (await conn.execute(select(device_refresh_tokens))).one()
        paired = (
            await conn.execute(select(audit_log).where(audit_log.c.action == "device.paired"))
        ).one()
    assert (device.store_id, device.group_id) == (placement.store_id, placement.group_id)
    assert device.external_name == "Entrance 0"
    assert device.status == "pending"
    assert device.device_info_json == info and device.player_version == "2.4.1"
    assert (claim.status, claim.device_id, claim.used_at) == (
        "USED",
        device_id,
        services.clock.now(),
    )
    # Only the hash of the refresh token is stored.
    assert refresh.token_hash == hash_secret(body["refresh_token"])
    assert refresh.device_id == device_id and refresh.parent_id is None
    assert paired.actor_device_id == device_id and paired.target_id == str(device_id)


async def test_same_claim_code_cannot_be_used_twice(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    [code] = await console_codes(services, placement)
    first = await edge_client.post(CLAIM, json={"claim_code": code})
    assert first.status_code == 200
    for variant in (code, code.lower(), f"{code[:4]}-{code[4:]}"):
        again = await edge_client.post(CLAIM, json={"claim_code": variant})
        assert again.status_code == 409, again.text
        assert error_of(again)["code"] == "invalid_grant"
    async with services.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(devices))).scalar() == 1


async def test_tokens_authenticate_to_device_endpoints(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    [code] = await console_codes(services, placement)
    token = (await edge_client.post(CLAIM, json={"claim_code": code})).json()["device_token"]
    ok = await edge_client.post(
        "/v1/device/heartbeat", json=HEARTBEAT, headers={"Authorization": f"Bearer {token}"}
    )
    assert ok.status_code == 200, ok.text
    refused = await edge_client.post("/v1/device/heartbeat", json=HEARTBEAT)
    assert refused.status_code == 401
    assert error_of(refused)["code"] == "missing_token"


async def test_codes_are_case_and_dash_insensitive(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    [code] = await console_codes(services, placement)
    typed = f" {code[:2].lower()}-{code[2:5]} {code[5:].lower()} "
    response = await edge_client.post(CLAIM, json={"claim_code": typed})
    assert response.status_code == 200, response.text


async def test_concurrent_claims_of_one_code_have_exactly_one_winner(
    services: Services, placement: Placement, client_at: Callable[[str], httpx.AsyncClient]
) -> None:
    [code] = await console_codes(services, placement)
    clients = [client_at(f"10.1.0.{i}") for i in range(8)]
    responses = await asyncio.gather(
        *(client.post(CLAIM, json={"claim_code": code}) for client in clients)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [409] * 7, [r.text for r in responses]
    assert all(error_of(r)["code"] == "invalid_grant" for r in responses if r.status_code == 409)
    async with services.engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(devices))).scalar() == 1
        tokens = (
            await conn.execute(select(func.count()).select_from(device_refresh_tokens))
        ).scalar()
        assert tokens == 1


async def test_installer_codes_expire(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement, clock: FrozenClock
) -> None:
    [code] = await console_codes(services, placement)
    clock.advance(timedelta(days=3))
    response = await edge_client.post(CLAIM, json={"claim_code": code})
    assert response.status_code == 400
    assert error_of(response)["code"] == "expired_token"


async def test_a_withdrawn_installer_code_is_denied(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    [code] = await console_codes(services, placement)
    await deny_claim(services, Actor.system(), claim_code=code)
    response = await edge_client.post(CLAIM, json={"claim_code": code})
    assert response.status_code == 400
    assert error_of(response)["code"] == "access_denied"


async def test_installer_code_with_a_device_code_is_refused(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    [code] = await console_codes(services, placement)
    response = await edge_client.post(CLAIM, json={"claim_code": code, "device_code": "x" * 43})
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_grant"
    # The code was not spent by the failed attempt.
    assert (await edge_client.post(CLAIM, json={"claim_code": code})).status_code == 200
