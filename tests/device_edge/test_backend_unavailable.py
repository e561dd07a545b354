"""A backend out of reach is a 503 with Retry-After, never a 500: players keep their data."""

from __future__ import annotations

import uuid

import httpx

from core.bootstrap import Services
from device_edge.app import create_app
from tests.graphql_api.helpers import mint_device_token
from tests.outages import services_without_redis


async def test_unreachable_redis_answers_503_with_retry_after(services: Services) -> None:
    async with services_without_redis(services) as broken:
        token = mint_device_token(broken, uuid.uuid4())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_app(services=broken)),
            base_url="http://edge.test",
        ) as client:
            response = await client.get(
                "/v1/device/plan", headers={"Authorization": f"Bearer {token}"}
            )
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "unavailable"
