"""The served OpenAPI document matches the mounted routes and the real answers."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from starlette.routing import Route

from core.bootstrap import Services
from device_edge.app import create_app
from device_edge.openapi import UndocumentedRoute, build_openapi
from tests.device_edge.conftest import HEARTBEAT, Paired, Placement, console_codes

OPENAPI = "/v1/device/openapi.json"


async def fetch(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get(OPENAPI)
    assert response.status_code == 200
    return dict(response.json())


def check(document: dict[str, Any], path: str, method: str, response: httpx.Response) -> None:
    """Validate a real response against the schema documented for its status."""
    documented = document["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (path, method, response.status_code)
    content = documented[str(response.status_code)].get("content", {})
    schema = content["application/json"]["schema"]
    validator = Draft202012Validator({**schema, "components": document["components"]})
    validator.validate(response.json())
    if response.status_code >= 400:
        codes = documented[str(response.status_code)]["x-error-codes"]
        assert response.json()["error"]["code"] in codes


async def test_document_paths_and_methods_equal_the_routes(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    document = await fetch(edge_client)
    validate_openapi(document)
    app = create_app(services=services)
    routes = {
        (route.path_format, method.lower())
        for route in app.routes
        if isinstance(route, Route)
        for method in (route.methods or set())
        if method != "HEAD"
    }
    assert all(isinstance(route, Route) for route in app.routes)
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert documented == routes
    assert {"/v1/device/pairing/create-claim", "/v1/device/heartbeat"} <= {p for p, _ in routes}
    heartbeat = document["paths"]["/v1/device/heartbeat"]["post"]
    assert heartbeat["security"] == [{"deviceToken": []}]
    assert "401" in heartbeat["responses"] and "422" in heartbeat["responses"]


def test_a_route_without_a_contract_is_refused() -> None:
    async def endpoint(request: Any) -> Any:
        raise NotImplementedError

    with pytest.raises(UndocumentedRoute):
        build_openapi([Route("/v1/device/secret", endpoint)])


async def test_real_answers_match_the_documented_schemas(
    edge_client: httpx.AsyncClient, services: Services, placement: Placement
) -> None:
    document = await fetch(edge_client)
    claim_path, create_path = "/v1/device/pairing/claim", "/v1/device/pairing/create-claim"

    created = await edge_client.post(create_path, json={"device_info": {"os": "linux"}})
    check(document, create_path, "post", created)
    pending = await edge_client.post(
        claim_path,
        json={
            "claim_code": created.json()["claim_code"],
            "device_code": created.json()["device_code"],
        },
    )
    check(document, claim_path, "post", pending)

    [code] = await console_codes(services, placement)
    paired = await edge_client.post(claim_path, json={"claim_code": code})
    check(document, claim_path, "post", paired)
    check(
        document, claim_path, "post", await edge_client.post(claim_path, json={"claim_code": code})
    )
    check(document, claim_path, "post", await edge_client.post(claim_path, json={"claim_code": 5}))

    tokens = paired.json()
    device = Paired(tokens["device_id"], tokens["device_token"], tokens["refresh_token"])
    beat = await edge_client.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth)
    check(document, "/v1/device/heartbeat", "post", beat)
    check(
        document,
        "/v1/device/heartbeat",
        "post",
        await edge_client.post("/v1/device/heartbeat", json=HEARTBEAT),
    )
    refreshed = await edge_client.post(
        "/v1/device/token/refresh", json={"refresh_token": device.refresh_token}
    )
    check(document, "/v1/device/token/refresh", "post", refreshed)
    check(
        document,
        "/v1/device/token/refresh",
        "post",
        await edge_client.post("/v1/device/token/refresh", json={"refresh_token": "x"}),
    )
