"""A console on another origin: CORS only for the origins in CONSOLE_ORIGINS, none by default."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from pydantic import ValidationError

from core.bootstrap import Services
from core.config import Settings
from graphql_api.app import create_app
from tests.graphql_api.helpers import create_user_and_token

CONSOLE = "https://console.example.com"
QUERY = {"query": "{ me { email } }"}


def settings_with_origins(services: Services, value: str) -> Settings:
    return Settings.model_validate(
        {**services.settings.model_dump(by_alias=True), "CONSOLE_ORIGINS": value}
    )


async def client_for(services: Services, settings: Settings) -> httpx.AsyncClient:
    app = create_app(services=dataclasses.replace(services, settings=settings))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test")


def preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }


async def test_a_listed_origin_may_call_the_api_with_its_token(services: Services) -> None:
    user = await create_user_and_token(services)
    settings = settings_with_origins(services, f"{CONSOLE}/, http://localhost:5173")
    assert settings.console_origins == [CONSOLE, "http://localhost:5173"]
    async with await client_for(services, settings) as client:
        allowed = await client.options("/graphql", headers=preflight(CONSOLE))
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == CONSOLE
        assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed.headers

        answer = await client.post(
            "/graphql",
            json=QUERY,
            headers={"Origin": CONSOLE, "Authorization": f"Bearer {user.token}"},
        )
        assert answer.status_code == 200
        assert answer.json()["data"]["me"]["email"] == user.email
        assert answer.headers["access-control-allow-origin"] == CONSOLE

        refused = await client.options("/graphql", headers=preflight("https://evil.example"))
        assert refused.status_code == 400
        assert "access-control-allow-origin" not in refused.headers
        other = await client.post(
            "/graphql", json=QUERY, headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in other.headers


async def test_no_cross_origin_access_by_default(services: Services) -> None:
    assert services.settings.console_origins == []
    async with await client_for(services, services.settings) as client:
        answer = await client.options("/graphql", headers=preflight(CONSOLE))
        assert "access-control-allow-origin" not in answer.headers
        answer = await client.post("/graphql", json=QUERY, headers={"Origin": CONSOLE})
        assert "access-control-allow-origin" not in answer.headers


@pytest.mark.parametrize(
    "value",
    ["*", "console.example.com", "https://console.example.com/app", "ftp://x.example", "https://"],
)
def test_anything_but_an_origin_is_refused_at_start_up(services: Services, value: str) -> None:
    with pytest.raises(ValidationError, match="CONSOLE_ORIGINS"):
        settings_with_origins(services, value)
