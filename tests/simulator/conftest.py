"""The real admin API and device edge served by uvicorn on free local ports, in the test's
event loop, for the simulator to drive over real HTTP.

The simulator is a wall-clock program (players stamp events with their own clock, tokens
expire in real time), so these tests run the servers on the system clock rather than the
suite's frozen one. The edge can be stopped and started again on the same port to simulate
an outage.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from core.clock import Clock, SystemClock
from core.config import Settings
from core.db.enums import Role
from simulator.config import SimulationConfig
from tests.conftest import TEST_JWT_KEYS, TEST_STORAGE_SIGNING_SECRET
from tests.graphql_api.helpers import TEST_PASSWORD, create_user
from tests.harness import ServiceURLs


def _bound_socket(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    return sock


class ServedApp:
    """One ASGI app under uvicorn; `stop()` and `start()` again keep the same port."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        self.app = app
        self.port: int = sock.getsockname()[1]
        self._sock: socket.socket | None = sock
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        sock = self._sock or _bound_socket(self.port)
        self._sock = None
        config = uvicorn.Config(self.app, lifespan="off", log_level="warning", access_log=False)
        self._server = server = uvicorn.Server(config)
        self._task = task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        await self._task
        self._server = self._task = None


@dataclass
class Stack:
    api: ServedApp
    edge: ServedApp
    admin_email: str
    admin_password: str

    def config(self, **overrides: Any) -> SimulationConfig:
        """A small, time-compressed run against this stack."""
        values: dict[str, Any] = {
            "devices": 5,
            "duration_s": 6.0,
            "api_url": self.api.url,
            "edge_url": self.edge.url,
            "admin_email": self.admin_email,
            "admin_password": self.admin_password,
            "concurrency": 20,
            "seed": 7,
            "speed": 20.0,
            "heartbeat_interval_s": 10,
            "ramp_s": 0.5,
            "plan_poll_s": 2.0,
            "upload_interval_s": 1.5,
            "backoff_initial_s": 0.2,
            "backoff_max_s": 1.0,
            "drain_timeout_s": 20.0,
            "request_timeout_s": 10.0,
            "progress_interval_s": 2.0,
        }
        values.update(overrides)
        return SimulationConfig(**values)


@pytest.fixture
def clock() -> Clock:
    return SystemClock()


@pytest.fixture
def device_access_ttl_s() -> int:
    """Short-lived device access tokens, so even a few seconds of simulation refresh them."""
    return 4


@pytest.fixture
def listen_sockets() -> dict[str, socket.socket]:
    return {"api": _bound_socket(), "edge": _bound_socket()}


@pytest.fixture
def settings(
    database_url: str,
    redis_prefix: str,
    service_urls: ServiceURLs,
    tmp_path: Path,
    listen_sockets: dict[str, socket.socket],
    device_access_ttl_s: int,
) -> Settings:
    api_port = listen_sockets["api"].getsockname()[1]
    edge_port = listen_sockets["edge"].getsockname()[1]
    return Settings.model_validate(
        {
            "SIGNAGE_ENV": "test",
            "DATABASE_URL": database_url,
            "REDIS_URL": service_urls.redis,
            "REDIS_KEY_PREFIX": redis_prefix,
            "SIGNAGE_DATA_DIR": str(tmp_path / "data"),
            "JWT_KEYS": TEST_JWT_KEYS,
            "JWT_ACTIVE_KID": "k1",
            "STORAGE_SIGNING_SECRET": TEST_STORAGE_SIGNING_SECRET,
            "PUBLIC_API_URL": f"http://127.0.0.1:{api_port}",
            "PUBLIC_EDGE_URL": f"http://127.0.0.1:{edge_port}",
            "DEVICE_ACCESS_TTL_S": device_access_ttl_s,
        }
    )


@pytest.fixture
async def stack(services: Any, listen_sockets: dict[str, socket.socket]) -> AsyncIterator[Stack]:
    from device_edge.app import create_app as create_edge
    from graphql_api.app import create_app as create_api

    _, email = await create_user(services, role=Role.ADMIN)
    api = ServedApp(create_api(services=services), listen_sockets["api"])
    edge = ServedApp(create_edge(services=services), listen_sockets["edge"])
    await api.start()
    await edge.start()
    try:
        yield Stack(api=api, edge=edge, admin_email=email, admin_password=TEST_PASSWORD)
    finally:
        await edge.stop()
        await api.stop()
