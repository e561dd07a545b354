"""Deeply nested requests are the client's fault: a 400 with a JSON body, never a 500."""

from __future__ import annotations

import httpx
import pytest

from core.bootstrap import Services
from core.db.enums import Role
from tests.graphql_api.helpers import bearer, create_user_and_token

DEPTH = 100_000


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(_nested(DEPTH), id="bare-array"),
        pytest.param(
            '{"query": "{ me { id } }", "variables": {"x": ' + _nested(DEPTH) + "}}",
            id="variables",
        ),
        pytest.param('{"query": "{ me { id } }", "extensions": ' + _nested(DEPTH) + "}", id="ext"),
    ],
)
async def test_deeply_nested_json_body_is_a_json_400(
    api_client: httpx.AsyncClient, services: Services, body: str
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    response = await api_client.post(
        "/graphql",
        content=body,
        headers={**bearer(admin.token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400, response.text[:300]
    payload = response.json()
    assert payload["errors"][0]["extensions"]["code"] == "BAD_REQUEST"


async def test_deeply_nested_selection_is_not_a_server_error(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    query = "{ me " + "{ id " * 5_000 + "}" * 5_000 + " }"
    response = await api_client.post("/graphql", json={"query": query}, headers=bearer(admin.token))
    assert response.status_code < 500, response.text[:300]
    payload = response.json()
    codes = {error["extensions"]["code"] for error in payload["errors"]}
    assert "INTERNAL_ERROR" not in codes
