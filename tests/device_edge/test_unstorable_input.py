"""Values PostgreSQL or a JSON column cannot store are the sender's 422, per field.

Before `core.inputs` was applied at the edge, a NUL in any heartbeat string, in a create-claim
`device_info` (no token needed) or an integer past 64 bits reached the database and failed
there as a 500 (for every heartbeat coalesced into the same statement); a `started_at` whose
offset pushes the instant past year 9999 was stored and left for later readers to trip on.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from core.bootstrap import Services
from core.db.tables import device_claims, devices
from core.errors import ValidationFailed
from core.pairing.device_flow import create_screen_claim, exchange_claim
from core.security.tokens import TokenService
from tests.device_edge.conftest import HEARTBEAT, Paired, error_of

HEARTBEAT_PATH = "/v1/device/heartbeat"
CREATE_CLAIM = "/v1/device/pairing/create-claim"
CLAIM = "/v1/device/pairing/claim"
REFRESH = "/v1/device/token/refresh"
JSON = {"content-type": "application/json"}
CONTENT_ID = str(uuid.uuid4())


def field_errors(response: httpx.Response, status: int = 422) -> dict[str, str]:
    """{field: code} of a per-field refusal, after checking that no bad text is echoed."""
    assert response.status_code == status, response.text
    # Neither the raw character nor its JSON escape comes back to the sender.
    assert b"\\u0000" not in response.content and b"\x00" not in response.content
    assert b"\\ud8" not in response.content.lower() and b"\\udf" not in response.content.lower()
    error = error_of(response)
    assert error["code"] == "validation_error", error
    return {entry["field"]: entry["code"] for entry in error["details"]["errors"]}


async def post_raw(
    client: httpx.AsyncClient, path: str, body: bytes, headers: dict[str, str] | None = None
) -> httpx.Response:
    return await client.post(path, content=body, headers={**JSON, **(headers or {})})


def heartbeat_with(**fields: Any) -> bytes:
    return json.dumps({**HEARTBEAT, **fields}).encode()


async def device_row(services: Services, device_id: uuid.UUID) -> Any:
    async with services.engine.connect() as conn:
        return (await conn.execute(select(devices).where(devices.c.id == device_id))).one()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"last_error": "disk\x00full"}, {"last_error": "nul_character"}),
        ({"plan_etag": "etag\x00"}, {"plan_etag": "nul_character"}),
        ({"device_info": {"model": "X\x001"}}, {"device_info.model": "nul_character"}),
        (
            {"device_info": {"os": "ok", "timezone": "\x00", "model": "\x00"}},
            {"device_info.timezone": "nul_character", "device_info.model": "nul_character"},
        ),
        (
            {"now_playing": {"content_id": CONTENT_ID, "content_version": "v\x00"}},
            {"now_playing.content_version": "nul_character"},
        ),
    ],
    ids=["last_error", "plan_etag", "device_info", "two_fields", "now_playing"],
)
async def test_nul_in_a_heartbeat_string_is_a_422_naming_the_field(
    edge_client: httpx.AsyncClient,
    services: Services,
    paired: Paired,
    fields: dict[str, Any],
    expected: dict[str, str],
) -> None:
    response = await post_raw(edge_client, HEARTBEAT_PATH, heartbeat_with(**fields), paired.auth)
    assert field_errors(response) == expected
    # Nothing of the refused heartbeat was written, and the next honest one is answered.
    assert (await device_row(services, paired.device_id)).last_seen_at is None
    honest = await post_raw(edge_client, HEARTBEAT_PATH, heartbeat_with(), paired.auth)
    assert honest.status_code == 200, honest.text


async def test_lone_surrogate_is_a_422_naming_the_field(
    edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    """JSON allows the escape; no UTF-8 encoder, PostgreSQL included, takes the result."""
    body = b'{"disk_used_bytes": 1, "counters": {}, "last_error": "a\\ud800b"}'
    response = await post_raw(edge_client, HEARTBEAT_PATH, body, paired.auth)
    assert field_errors(response) == {"last_error": "unpaired_surrogate"}


async def test_nul_in_an_object_key_is_refused_without_echoing_the_key(
    edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    body = b'{"disk_used_bytes": 1, "counters": {}, "device_info": {"mo\\u0000del": "X"}}'
    response = await post_raw(edge_client, HEARTBEAT_PATH, body, paired.auth)
    assert field_errors(response) == {"device_info": "nul_character"}


async def test_integer_beyond_64_bits_in_device_info_is_a_422(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired
) -> None:
    for value in (2**63, 2**64, 10**30):
        body = heartbeat_with(device_info={"storage_total_bytes": value})
        response = await post_raw(edge_client, HEARTBEAT_PATH, body, paired.auth)
        assert field_errors(response) == {"device_info.storage_total_bytes": "less_than_equal"}
    at_limit = heartbeat_with(device_info={"storage_total_bytes": 2**63 - 1})
    response = await post_raw(edge_client, HEARTBEAT_PATH, at_limit, paired.auth)
    assert response.status_code == 200, response.text
    stored = (await device_row(services, paired.device_id)).device_info_json
    assert stored["storage_total_bytes"] == 2**63 - 1


@pytest.mark.parametrize(
    "started_at",
    [
        "9999-12-31T23:59:59-23:59",  # past datetime.max once converted to UTC
        "0001-01-01T00:00:00+23:59",  # before datetime.min once converted to UTC
        "9999-12-31T00:00:00Z",  # a day of arithmetic from overflowing
    ],
)
async def test_started_at_that_overflows_in_utc_is_a_422(
    edge_client: httpx.AsyncClient, services: Services, paired: Paired, started_at: str
) -> None:
    body = heartbeat_with(now_playing={"content_id": CONTENT_ID, "started_at": started_at})
    response = await post_raw(edge_client, HEARTBEAT_PATH, body, paired.auth)
    assert field_errors(response) == {"now_playing.started_at": "datetime_out_of_range"}
    assert (await device_row(services, paired.device_id)).now_playing_json is None


async def claim_rows(services: Services) -> int:
    async with services.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(device_claims))).scalar())


@pytest.mark.parametrize(
    ("device_info", "expected"),
    [
        ({"model": "Screen\x00"}, {"device_info.model": "nul_character"}),
        ({"serial_number": "\udc00"}, {"device_info.serial_number": "unpaired_surrogate"}),
        ({"storage_total_bytes": 2**64}, {"device_info.storage_total_bytes": "less_than_equal"}),
    ],
    ids=["nul", "surrogate", "bigint"],
)
async def test_create_claim_without_token_refuses_unstorable_device_info(
    edge_client: httpx.AsyncClient,
    services: Services,
    device_info: dict[str, Any],
    expected: dict[str, str],
) -> None:
    body = json.dumps({"device_info": device_info}).encode()
    response = await post_raw(edge_client, CREATE_CLAIM, body)
    assert field_errors(response) == expected
    assert await claim_rows(services) == 0
    honest = await edge_client.post(CREATE_CLAIM, json={"device_info": {"model": "Screen"}})
    assert honest.status_code == 201, honest.text


async def test_claim_and_refresh_refuse_nul_instead_of_judging_the_code(
    edge_client: httpx.AsyncClient,
) -> None:
    """A NUL is a malformed request (422), not a wrong code (400/401 that costs a guess)."""
    cases = [
        (CLAIM, {"claim_code": "BCDF\x00GHJ"}, {"claim_code": "nul_character"}),
        (
            CLAIM,
            {"claim_code": "BCDFGHJK", "device_code": "secret\x00"},
            {"device_code": "nul_character"},
        ),
        (
            CLAIM,
            {"claim_code": "BCDFGHJK", "device_info": {"os": "\x00"}},
            {"device_info.os": "nul_character"},
        ),
        (REFRESH, {"refresh_token": "token\x00"}, {"refresh_token": "nul_character"}),
    ]
    for path, body, expected in cases:
        response = await post_raw(edge_client, path, json.dumps(body).encode())
        assert field_errors(response) == expected, path


async def test_core_pairing_refuses_unstorable_values_on_its_own(services: Services) -> None:
    """The core services defend themselves too (same rule, `core.inputs`), whoever calls."""
    with pytest.raises(ValidationFailed) as refused:
        await create_screen_claim(services, device_info={"model": "\x00"}, client_ip="192.0.2.1")
    assert refused.value.errors[0]["field"] == "device_info.model"
    with pytest.raises(ValidationFailed) as refused:
        await create_screen_claim(services, device_info={"n": 2**70}, client_ip="192.0.2.1")
    assert refused.value.errors[0]["code"] == "integer_out_of_range"
    assert await claim_rows(services) == 0
    with pytest.raises(ValidationFailed) as refused:
        await exchange_claim(
            services,
            TokenService(services.settings, services.clock),
            claim_code="BCDF\x00",
            device_code=None,
            device_info=None,
            client_ip="192.0.2.1",
        )
    assert refused.value.errors == [
        {
            "field": "claim_code",
            "code": "nul_character",
            "message": "text must not contain the NUL character (U+0000)",
        }
    ]
