"""A backend out of reach is a 503 with Retry-After, never a 500: players keep their data."""

from __future__ import annotations

import socket
import uuid

import httpx

from core.bootstrap import Services, build_services
from device_edge.app import create_app
from tests.graphql_api.helpers import mint_device_token


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_unreachable_redis_answers_503_with_retry_after(services: Services) -> None:
    settings = services.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{_closed_port()}/0"}
    )
    broken = build_services(settings, clock=services.clock)
    token = mint_device_token(broken, uuid.uuid4())
    app = create_app(services=broken)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://edge.test"
        ) as client:
            response = await client.get(
                "/v1/device/plan", headers={"Authorization": f"Bearer {token}"}
            )
    finally:
        await broken.close()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
