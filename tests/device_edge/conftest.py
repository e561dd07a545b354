"""Helpers for device-edge tests: a store and group to pair into, and paired devices."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

from core.bootstrap import Services
from core.db.tables import device_groups, stores
from core.kernel.actor import Actor
from core.pairing.console import create_console_claims


@dataclass(frozen=True)
class Placement:
    store_id: uuid.UUID
    group_id: uuid.UUID


@dataclass(frozen=True)
class Paired:
    device_id: uuid.UUID
    access_token: str
    refresh_token: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}


HEARTBEAT: dict[str, Any] = {
    "now_playing": None,
    "disk_used_bytes": 1000,
    "plan_etag": None,
    "counters": {},
}


async def create_placement(
    services: Services, *, policy: dict[str, Any] | None = None, name: str = "Group A"
) -> Placement:
    async with services.uow() as uow:
        store_id = (
            await uow.conn.execute(
                insert(stores)
                .values(name=f"Store {name}", timezone="Europe/Paris")
                .returning(stores.c.id)
            )
        ).scalar_one()
        group_id = (
            await uow.conn.execute(
                insert(device_groups)
                .values(name=name, policy_json=policy or {})
                .returning(device_groups.c.id)
            )
        ).scalar_one()
        await uow.commit()
    return Placement(store_id=store_id, group_id=group_id)


@pytest.fixture
async def placement(services: Services) -> Placement:
    return await create_placement(services)


async def console_codes(
    services: Services, placement: Placement, count: int = 1, name: str = "Lobby"
) -> list[str]:
    views = await create_console_claims(
        services,
        Actor.system(),
        store_id=placement.store_id,
        group_id=placement.group_id,
        names=[f"{name} {i}" for i in range(count)],
    )
    return [view.claim_code for view in views]


async def pair(edge_client: httpx.AsyncClient, services: Services, placement: Placement) -> Paired:
    [code] = await console_codes(services, placement)
    response = await edge_client.post("/v1/device/pairing/claim", json={"claim_code": code})
    assert response.status_code == 200, response.text
    body = response.json()
    return Paired(uuid.UUID(body["device_id"]), body["device_token"], body["refresh_token"])


@pytest.fixture
async def paired(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> Paired:
    return await pair(edge_client, services, placement)


def error_of(response: httpx.Response) -> dict[str, Any]:
    """The error object, after checking the one error shape."""
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) <= {"code", "message", "details"}, error
    assert isinstance(error["code"], str) and isinstance(error["message"], str)
    return error


@pytest.fixture
async def edge_app(services: Services) -> Any:
    from device_edge.app import create_app

    return create_app(services=services)


@pytest.fixture
async def client_at(edge_app: Any) -> AsyncIterator[Callable[[str], httpx.AsyncClient]]:
    """Clients that reach the edge from a chosen address (rate limits are per address)."""
    clients: list[httpx.AsyncClient] = []

    def make(ip: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=edge_app, client=(ip, 40000))
        client = httpx.AsyncClient(transport=transport, base_url="http://edge.test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
