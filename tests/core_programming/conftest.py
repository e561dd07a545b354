"""Fixtures for the programming services: real users (audit rows reference them), a real
local object store, fleet rows to target, and a listener on the plan-inputs channel."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import device_groups, devices, stores
from core.kernel.actor import Actor
from core.plans.changes import plan_inputs_channel
from core.storage import ObjectStorage
from tests.core_programming.helpers import make_user


@pytest.fixture
async def admin(services: Services) -> Actor:
    return await make_user(services, Role.ADMIN)


@pytest.fixture
async def operator(services: Services) -> Actor:
    return await make_user(services, Role.OPERATOR)


@pytest.fixture
async def viewer(services: Services) -> Actor:
    return await make_user(services, Role.VIEWER)


@pytest.fixture
def storage(services: Services) -> ObjectStorage:
    return services.storage


@dataclass(frozen=True)
class Fleet:
    store_id: uuid.UUID
    group_id: uuid.UUID
    device_id: uuid.UUID
    retired_device_id: uuid.UUID


@pytest.fixture
async def fleet(services: Services) -> Fleet:
    async with services.engine.begin() as conn:
        store_id = (
            await conn.execute(
                sa.insert(stores)
                .values(name="Flagship", timezone="Europe/Berlin")
                .returning(stores.c.id)
            )
        ).scalar_one()
        group_id = (
            await conn.execute(
                sa.insert(device_groups).values(name="Entrance").returning(device_groups.c.id)
            )
        ).scalar_one()
        device_id, retired_id = (
            await conn.execute(
                sa.insert(devices)
                .values(
                    [
                        {"store_id": store_id, "group_id": group_id, "status": "online"},
                        {"store_id": None, "group_id": None, "status": "decommissioned"},
                    ]
                )
                .returning(devices.c.id)
            )
        ).scalars()
    return Fleet(store_id, group_id, device_id, retired_id)


@dataclass
class PlanInputsListener:
    """Collects messages published on the plan-inputs channel."""

    pubsub: Any
    received: list[dict[str, Any]] = field(default_factory=list)

    async def drain(self, wait_s: float = 0.3) -> list[dict[str, Any]]:
        """Everything published so far (waiting up to `wait_s` for stragglers)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while (left := deadline - loop.time()) > 0:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=left)
            if message is not None:
                self.received.append(orjson.loads(message["data"]))
        out, self.received = self.received, []
        return out


@pytest.fixture
async def plan_inputs(services: Services) -> AsyncIterator[PlanInputsListener]:
    pubsub = services.redis.pubsub()
    await pubsub.subscribe(plan_inputs_channel(services.keys))
    await pubsub.get_message(timeout=1.0)  # the subscribe confirmation
    try:
        yield PlanInputsListener(pubsub)
    finally:
        await pubsub.unsubscribe()
        await pubsub.aclose()
