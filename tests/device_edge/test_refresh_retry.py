"""DEVICE_REFRESH_RETRY_GRACE_S: a player that lost a refresh answer may retry; a thief may not
keep what a retry gives. (With the default 0, test_device_tokens covers strict reuse.)"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.tables import audit_log, device_refresh_tokens
from device_edge.app import create_app
from tests.device_edge.conftest import HEARTBEAT, Paired, error_of

REFRESH = "/v1/device/token/refresh"
GRACE_S = 60


@pytest.fixture
async def lenient(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The edge with a 60 s retry grace, on the same database and Redis."""
    settings = services.settings.model_copy(update={"device_refresh_retry_grace_s": GRACE_S})
    app = create_app(services=dataclasses.replace(services, settings=settings))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://edge.test"
    ) as client:
        yield client


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(REFRESH, json={"refresh_token": token})


async def beat(client: httpx.AsyncClient, access_token: str) -> httpx.Response:
    return await client.post(
        "/v1/device/heartbeat", json=HEARTBEAT, headers={"Authorization": f"Bearer {access_token}"}
    )


async def audited(services: Services, action: str) -> int:
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(audit_log).where(audit_log.c.action == action))).all()
    return len(rows)


async def assert_revoked(client: httpx.AsyncClient, services: Services, *tokens: str) -> None:
    for token in tokens:
        response = await beat(client, token)
        assert response.status_code == 401 and error_of(response)["code"] == "token_revoked"
    assert await audited(services, "device.refresh_token_reused") == 1


async def test_a_retry_after_a_lost_answer_keeps_the_device_paired(
    lenient: httpx.AsyncClient, services: Services, paired: Paired, clock: FrozenClock
) -> None:
    lost = await refresh(lenient, paired.refresh_token)  # the player never sees this answer
    assert lost.status_code == 200
    clock.advance(timedelta(seconds=GRACE_S - 5))
    retried = await refresh(lenient, paired.refresh_token)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["refresh_token"] not in (paired.refresh_token, lost.json()["refresh_token"])
    assert (await beat(lenient, body["device_token"])).status_code == 200
    # The chain goes on from the retry's token; the device was never revoked.
    clock.advance(timedelta(minutes=10))
    onward = await refresh(lenient, body["refresh_token"])
    assert onward.status_code == 200
    assert (await beat(lenient, onward.json()["device_token"])).status_code == 200
    assert await audited(services, "device.refresh_retried") == 1
    assert await audited(services, "device.refresh_token_reused") == 0
    async with services.engine.connect() as conn:
        rows = (await conn.execute(select(device_refresh_tokens))).all()
    assert sum(row.superseded_at is not None for row in rows) == 1  # the lost one


async def test_the_superseded_token_showing_up_later_revokes_the_device(
    lenient: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    """A thief replays the spent token within the window and gets the retry's token; the real
    player's next refresh presents the token the retry replaced: two parties, so revoke."""
    legitimate = (await refresh(lenient, paired.refresh_token)).json()
    stolen = (await refresh(lenient, paired.refresh_token)).json()
    response = await refresh(lenient, legitimate["refresh_token"])
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_grant"
    assert await audited(services, "device.refresh_token_reused") == 1
    await assert_revoked(lenient, services, legitimate["device_token"], stolen["device_token"])
    assert (await refresh(lenient, stolen["refresh_token"])).status_code == 401


async def test_a_replay_after_the_grace_window_is_reuse(
    lenient: httpx.AsyncClient, services: Services, paired: Paired, clock: FrozenClock
) -> None:
    rotated = (await refresh(lenient, paired.refresh_token)).json()
    clock.advance(timedelta(seconds=GRACE_S + 1))
    response = await refresh(lenient, paired.refresh_token)
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_grant"
    await assert_revoked(lenient, services, rotated["device_token"])
    assert await audited(services, "device.refresh_retried") == 0


async def test_a_replay_after_the_chain_moved_on_is_reuse(
    lenient: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    second = (await refresh(lenient, paired.refresh_token)).json()
    third = (await refresh(lenient, second["refresh_token"])).json()  # the successor was used
    response = await refresh(lenient, paired.refresh_token)  # still within the window
    assert response.status_code == 401 and error_of(response)["code"] == "invalid_grant"
    await assert_revoked(lenient, services, third["device_token"])


async def test_strict_rotation_is_the_default(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    assert services.settings.device_refresh_retry_grace_s == 0
    rotated = (await refresh(edge_client, paired.refresh_token)).json()
    response = await refresh(edge_client, paired.refresh_token)  # at once, successor unused
    assert response.status_code == 401
    await assert_revoked(edge_client, services, rotated["device_token"])
