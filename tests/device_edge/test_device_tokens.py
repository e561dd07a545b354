"""The token attack list (RFC 8725), refresh rotation and reuse detection, revocation."""

from __future__ import annotations

import base64
import json
import uuid
import warnings
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import audit_log, device_refresh_tokens
from core.devices.token_epoch import epoch_key, revoke_device_tokens
from core.security.tokens import TokenKind, TokenService
from device_edge.app import create_app
from device_edge.auth import authenticate_device
from tests.device_edge.conftest import HEARTBEAT, Paired, error_of

HEARTBEAT_PATH = "/v1/device/heartbeat"
REFRESH = "/v1/device/token/refresh"
KEYS = {
    "k1": "test-signing-key-k1-0123456789abcdef0123",
    "k0": "test-signing-key-k0-0123456789abcdef0123",
}


def b64(data: dict[str, Any]) -> str:
    raw = json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def valid_claims(paired: Paired, services: Services, **override: Any) -> dict[str, Any]:
    now = int(services.clock.now().timestamp())
    claims: dict[str, Any] = {
        "iss": "alive-signage",
        "aud": "signage-device-edge",
        "sub": str(paired.device_id),
        "typ": "device-access",
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 900,
        "epoch": 0,
    }
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


def sign(
    claims: dict[str, Any], *, kid: str | None = "k1", alg: str = "HS256", key: Any = None
) -> str:
    headers = {"kid": kid} if kid is not None else {}
    with warnings.catch_warnings():  # HS512 with the 40-byte test key: intended here
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return jwt.encode(
            claims, key if key is not None else KEYS["k1"], algorithm=alg, headers=headers
        )


Attack = Callable[[Paired, Services], str]

ATTACKS: dict[str, Attack] = {
    "garbage": lambda p, s: "not-a-jwt",
    "refresh token as access token": lambda p, s: p.refresh_token,
    "tampered payload": lambda p, s: (
        p.access_token.split(".")[0]
        + "."
        + b64(valid_claims(p, s, sub=str(uuid.uuid4())))
        + "."
        + p.access_token.split(".")[2]
    ),
    "alg none": lambda p, s: (
        b64({"alg": "none", "kid": "k1", "typ": "JWT"}) + "." + b64(valid_claims(p, s)) + "."
    ),
    "alg HS512 with the right key": lambda p, s: sign(valid_claims(p, s), alg="HS512"),
    "alg RS256": lambda p, s: sign(
        valid_claims(p, s),
        alg="RS256",
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    ),
    "unknown kid": lambda p, s: sign(valid_claims(p, s), kid="k9"),
    "no kid": lambda p, s: sign(valid_claims(p, s), kid=None),
    "right kid, wrong key": lambda p, s: sign(valid_claims(p, s), key="x" * 40),
    "wrong audience (console)": lambda p, s: sign(valid_claims(p, s, aud="signage-console")),
    "wrong issuer": lambda p, s: sign(valid_claims(p, s, iss="someone-else")),
    "wrong typ (refresh)": lambda p, s: sign(valid_claims(p, s, typ="device-refresh")),
    "console token": lambda p, s: TokenService(s.settings, s.clock).issue(
        TokenKind.CONSOLE_ACCESS, str(uuid.uuid4()), ttl_s=900
    )[0],
    "missing exp": lambda p, s: sign(valid_claims(p, s, exp=None)),
    "missing epoch": lambda p, s: sign(valid_claims(p, s, epoch=None)),
    "epoch not a number": lambda p, s: sign(valid_claims(p, s, epoch="0")),
    "subject not a uuid": lambda p, s: sign(valid_claims(p, s, sub="device-1")),
}


@pytest.mark.parametrize("name", list(ATTACKS))
async def test_attack_tokens_get_401(
    name: str, edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    token = ATTACKS[name](paired, services)
    response = await edge_client.post(
        HEARTBEAT_PATH, json=HEARTBEAT, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401, response.text
    assert error_of(response)["code"] == "invalid_token"
    assert response.headers["www-authenticate"].startswith('Bearer realm="device"')


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Bearer", "invalid_token"),
        ("Bearer    ", "invalid_token"),
        ("Basic dXNlcjpwYXNz", "invalid_token"),
        ("Bearer a.b", "invalid_token"),
        ("Bearer a.b.c", "invalid_token"),
    ],
)
async def test_missing_and_malformed_authorization(
    header: str | None, code: str, edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    headers = {} if header is None else {"Authorization": header}
    response = await edge_client.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=headers)
    assert response.status_code == 401
    assert error_of(response)["code"] == code


async def test_expired_token(
    edge_client: httpx.AsyncClient, paired: Paired, clock: FrozenClock
) -> None:
    clock.advance(timedelta(seconds=899))
    assert (
        await edge_client.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=paired.auth)
    ).status_code == 200
    clock.advance(timedelta(seconds=1))
    response = await edge_client.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=paired.auth)
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_expired"


async def test_a_still_listed_older_key_verifies(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    """Key rotation: tokens signed with k0 (listed, no longer active) keep working."""
    token = sign(valid_claims(paired, services), kid="k0", key=KEYS["k0"])
    response = await edge_client.post(
        HEARTBEAT_PATH, json=HEARTBEAT, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text


async def test_a_token_for_an_unknown_device_is_revoked(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    token = sign(valid_claims(paired, services, sub=str(uuid.uuid4())))
    response = await edge_client.post(
        HEARTBEAT_PATH, json=HEARTBEAT, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_revoked"


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def test_refresh_rotates_the_refresh_token(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired, clock: FrozenClock
) -> None:
    clock.advance(timedelta(minutes=14))
    response = await refresh(edge_client, paired.refresh_token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["device_id"] == str(paired.device_id)
    assert body["refresh_token"] != paired.refresh_token
    assert body["device_token"] != paired.access_token
    clock.advance(timedelta(minutes=5))  # the first access token has expired by now
    new_auth = {"Authorization": f"Bearer {body['device_token']}"}
    assert (
        await edge_client.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=new_auth)
    ).status_code == 200
    assert (
        await edge_client.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=paired.auth)
    ).status_code == 401

    async with services.engine.connect() as conn:
        rows = (
            await conn.execute(
                select(device_refresh_tokens).order_by(device_refresh_tokens.c.created_at)
            )
        ).all()
    first, second = rows
    assert first.used_at is not None and first.revoked_at is None
    assert second.parent_id == first.id and second.family_id == first.family_id
    # The successor rotates again.
    assert (await refresh(edge_client, body["refresh_token"])).status_code == 200


async def test_reusing_a_spent_refresh_token_revokes_the_whole_chain(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    rotated = (await refresh(edge_client, paired.refresh_token)).json()
    stolen_reuse = await refresh(edge_client, paired.refresh_token)
    assert stolen_reuse.status_code == 401
    assert error_of(stolen_reuse)["code"] == "invalid_grant"

    # The legitimate successor is dead too, and so are both access tokens, at once.
    successor = await refresh(edge_client, rotated["refresh_token"])
    assert successor.status_code == 401 and error_of(successor)["code"] == "invalid_grant"
    for token in (paired.access_token, rotated["device_token"]):
        response = await edge_client.post(
            HEARTBEAT_PATH, json=HEARTBEAT, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 401
        assert error_of(response)["code"] == "token_revoked"

    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(device_refresh_tokens))).all()
        audit = (
            await conn.execute(
                select(audit_log).where(audit_log.c.action == "device.refresh_token_reused")
            )
        ).all()
    assert all(row.revoked_at is not None for row in rows)
    assert len(audit) == 1 and audit[0].target_id == str(paired.device_id)
    # Replaying it again is refused without another revocation.
    assert (await refresh(edge_client, paired.refresh_token)).status_code == 401


async def test_refresh_failures(
    edge_client: httpx.AsyncClient, paired: Paired, clock: FrozenClock
) -> None:
    unknown = await refresh(edge_client, "nope")
    assert unknown.status_code == 401 and error_of(unknown)["code"] == "invalid_grant"
    as_access = await refresh(edge_client, paired.access_token)
    assert as_access.status_code == 401
    clock.advance(timedelta(days=90))
    expired = await refresh(edge_client, paired.refresh_token)
    assert expired.status_code == 401 and error_of(expired)["code"] == "invalid_grant"


@pytest.mark.parametrize("decommission", [False, True])
async def test_revocation_is_immediate(
    decommission: bool, edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    assert (
        await edge_client.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=paired.auth)
    ).status_code == 200
    async with services.uow() as uow:
        await revoke_device_tokens(
            uow,
            services.redis,
            services.keys,
            services.clock,
            paired.device_id,
            decommission=decommission,
        )
        await uow.commit()
    response = await edge_client.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=paired.auth)
    assert response.status_code == 401
    assert error_of(response)["code"] == "token_revoked"
    assert (await refresh(edge_client, paired.refresh_token)).status_code == 401


@pytest.fixture
async def probe(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The edge plus a route that only authenticates (the Redis-cached epoch path that
    plan, events and future routes use; the heartbeat checks the epoch in its statement)."""
    app = create_app(services=services)

    async def whoami(request: Request) -> Response:
        device = await authenticate_device(request)
        return JSONResponse({"device_id": str(device.device_id), "epoch": device.token_epoch})

    app.router.routes.append(Route("/v1/device/whoami", whoami, methods=["GET"]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as client:
        yield client


async def test_cached_epoch_authentication(
    probe: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    key = epoch_key(services.keys, paired.device_id)
    await services.redis.delete(key)
    ok = await probe.get("/v1/device/whoami", headers=paired.auth)
    assert ok.json() == {"device_id": str(paired.device_id), "epoch": 0}
    assert await services.redis.get(key) == b"0"  # filled from PostgreSQL on the miss

    async with services.uow() as uow:
        await revoke_device_tokens(
            uow, services.redis, services.keys, services.clock, paired.device_id
        )
        await uow.commit()
    revoked = await probe.get("/v1/device/whoami", headers=paired.auth)
    assert revoked.status_code == 401 and error_of(revoked)["code"] == "token_revoked"
    # A revocation whose cache update was lost is still seen once the cache entry is gone.
    await services.redis.set(key, 0)
    assert (await probe.get("/v1/device/whoami", headers=paired.auth)).status_code == 200
    await services.redis.delete(key)
    again = await probe.get("/v1/device/whoami", headers=paired.auth)
    assert again.status_code == 401 and error_of(again)["code"] == "token_revoked"
    # The heartbeat compares with the device row itself, so even a stale cache cannot help.
    await services.redis.set(key, 0)
    beat = await probe.post(HEARTBEAT_PATH, json=HEARTBEAT, headers=paired.auth)
    assert beat.status_code == 401 and error_of(beat)["code"] == "token_revoked"
