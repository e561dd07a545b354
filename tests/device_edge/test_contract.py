"""The edge's contract: one error shape, body limits, strict validation, 404/405/500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.requests import Request
from starlette.routing import Route

from core.bootstrap import Services
from core.db.tables import devices
from device_edge.limits import DEFAULT_BODY_LIMIT
from tests.device_edge.conftest import HEARTBEAT, Paired, error_of

PATH = "/v1/device/heartbeat"


async def test_unknown_route_is_a_json_404(edge_client: httpx.AsyncClient) -> None:
    response = await edge_client.get("/v1/device/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert error_of(response)["code"] == "not_found"


async def test_wrong_method_is_a_json_405(edge_client: httpx.AsyncClient) -> None:
    response = await edge_client.get(PATH)
    assert response.status_code == 405
    assert error_of(response)["code"] == "method_not_allowed"
    assert response.headers["allow"] == "POST"


async def test_declared_oversized_body_is_refused_before_reading(
    edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    body = b'{"pad": "' + b"x" * DEFAULT_BODY_LIMIT + b'"}'
    response = await edge_client.post(
        PATH, content=body, headers={**paired.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    error = error_of(response)
    assert error["code"] == "payload_too_large"
    assert error["details"]["max_bytes"] == DEFAULT_BODY_LIMIT


async def test_streamed_oversized_body_is_cut_off(
    edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"pad": "'
        for _ in range(100):
            yield b"x" * 1024
        yield b'"}'

    response = await edge_client.post(
        PATH, content=chunks(), headers={**paired.auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert error_of(response)["code"] == "payload_too_large"


async def test_pairing_routes_have_a_smaller_limit(edge_client: httpx.AsyncClient) -> None:
    response = await edge_client.post("/v1/device/pairing/claim", json={"claim_code": "B" * 20_000})
    assert response.status_code == 413


async def test_body_must_be_json(edge_client: httpx.AsyncClient, paired: Paired) -> None:
    wrong_type = await edge_client.post(
        PATH, content=b"disk=1", headers={**paired.auth, "Content-Type": "text/plain"}
    )
    assert wrong_type.status_code == 415
    assert error_of(wrong_type)["code"] == "unsupported_media_type"
    broken = await edge_client.post(
        PATH,
        content=b'{"disk_used_bytes": ',
        headers={**paired.auth, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert error_of(broken)["code"] == "malformed_json"
    empty = await edge_client.post(PATH, headers=paired.auth)
    assert empty.status_code == 400 and error_of(empty)["code"] == "malformed_json"


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"surprise": 1}, "surprise", "extra_forbidden"),
        ({"disk_used_bytes": "100"}, "disk_used_bytes", "int_type"),
        ({"disk_used_bytes": 1.5}, "disk_used_bytes", "int_type"),
        ({"disk_used_bytes": -1}, "disk_used_bytes", "greater_than_equal"),
        ({"disk_used_bytes": None}, "disk_used_bytes", "int_type"),
        ({"counters": {"uptime_s": True}}, "counters.uptime_s", "int_type"),
        ({"counters": {"reboots": 1}}, "counters.reboots", "extra_forbidden"),
        ({"device_info": {"os": 7}}, "device_info.os", "string_type"),
        ({"device_info": {"status": "online"}}, "device_info.status", "extra_forbidden"),
        (
            {"device_info": {"screen": {"width_px": 0, "height_px": 1}}},
            "device_info.screen.width_px",
            "greater_than_equal",
        ),
        ({"now_playing": {"content_id": "not-a-uuid"}}, "now_playing.content_id", "uuid_parsing"),
        (
            {"now_playing": {"started_at": "2026-03-02T10:00:00"}},
            "now_playing.started_at",
            "timezone_aware",
        ),
        ({"last_error": "e" * 2001}, "last_error", "string_too_long"),
    ],
)
async def test_strict_validation_names_each_field(
    change: dict[str, Any],
    field: str,
    code: str,
    edge_client: httpx.AsyncClient,
    services: Services,
    paired: Paired,
) -> None:
    response = await edge_client.post(PATH, json={**HEARTBEAT, **change}, headers=paired.auth)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "validation_error"
    assert {"field": field, "code": code} in [
        {"field": e["field"], "code": e["code"]} for e in error["details"]["errors"]
    ]
    async with services.engine.connect() as conn:
        row = (await conn.execute(select(devices).where(devices.c.id == paired.device_id))).one()
    assert row.last_seen_at is None  # nothing was written


async def test_missing_fields_are_all_listed(
    edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    response = await edge_client.post(PATH, json={}, headers=paired.auth)
    errors = error_of(response)["details"]["errors"]
    assert {(e["field"], e["code"]) for e in errors} == {
        ("disk_used_bytes", "missing"),
        ("counters", "missing"),
    }


async def test_authentication_comes_before_validation(edge_client: httpx.AsyncClient) -> None:
    response = await edge_client.post(PATH, json={"surprise": 1})
    assert response.status_code == 401


async def test_unexpected_errors_are_a_bare_500(services: Services) -> None:
    from device_edge.app import create_app

    app = create_app(services=services)

    async def explode(request: Request) -> Any:
        raise RuntimeError("secret internals: password=hunter2")

    app.router.routes.append(Route("/v1/device/explode", explode))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://edge.test") as client:
        response = await client.get("/v1/device/explode")
    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal_error", "message": "internal server error"}
    }
    assert "hunter2" not in response.text and "Traceback" not in response.text
