"""Console side of pairing: approve/deny screen codes, installer codes, the claims list."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import Role
from core.db.tables import audit_log, devices
from tests.graphql_api.helpers import (
    ConsoleUser,
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    insert_group,
    insert_store,
    mint_console_token,
)

CLAIM_FIELDS = """
  id claimCode displayCode flow status expired expiresAt name storeId groupId deviceInfo
  usedAt deviceId store { name } group { name } device { id name status }
"""
APPROVE = f"""
mutation Approve($code: String!, $store: UUID!, $group: UUID!, $name: String) {{
  approveDeviceClaim(claimCode: $code, storeId: $store, groupId: $group, name: $name) {{
    __typename
    ... on DeviceClaimSuccess {{ claim {{ {CLAIM_FIELDS} }} }}
    ... on Error {{ code message field }}
  }}
}}
"""
DENY = f"""
mutation Deny($code: String!) {{
  denyDeviceClaim(claimCode: $code) {{
    __typename
    ... on DeviceClaimSuccess {{ claim {{ {CLAIM_FIELDS} }} }}
    ... on Error {{ code message field }}
  }}
}}
"""
CREATE = f"""
mutation Create($store: UUID!, $group: UUID!, $names: [String!], $count: Int, $hours: Int! = 72) {{
  createDeviceClaims(storeId: $store, groupId: $group, names: $names, count: $count,
                     expiresInHours: $hours) {{
    __typename
    ... on DeviceClaimsSuccess {{ claims {{ {CLAIM_FIELDS} }} }}
    ... on Error {{ code message field }}
  }}
}}
"""
LIST = f"""
query Claims($status: ClaimStatus, $expired: Boolean! = false) {{
  deviceClaims(status: $status, includeExpired: $expired) {{ {CLAIM_FIELDS} }}
}}
"""


@pytest.fixture
async def operator(services: Services) -> ConsoleUser:
    return await create_user_and_token(services, Role.OPERATOR)


@pytest.fixture
async def placement(services: Services) -> dict[str, str]:
    store = await insert_store(services, name="Harbour Mall")
    group = await insert_group(services, name="Window screens")
    return {"store": str(store), "group": str(group)}


async def screen_claim(edge_client: httpx.AsyncClient) -> dict[str, Any]:
    response = await edge_client.post(
        "/v1/device/pairing/create-claim", json={"device_info": {"model": "Kiosk 9"}}
    )
    assert response.status_code == 201
    return dict(response.json())


async def poll(edge_client: httpx.AsyncClient, claim: dict[str, Any]) -> httpx.Response:
    return await edge_client.post(
        "/v1/device/pairing/claim",
        json={"claim_code": claim["claim_code"], "device_code": claim["device_code"]},
    )


async def test_a_person_approves_a_screen_code_and_the_player_gets_tokens(
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    services: Services,
    operator: ConsoleUser,
    placement: dict[str, str],
    clock: FrozenClock,
) -> None:
    claim = await screen_claim(edge_client)
    pending = await gql_data(api_client, LIST, {"status": "PENDING"}, token=operator.token)
    assert [c["claimCode"] for c in pending["deviceClaims"]] == [claim["claim_code"]]
    assert pending["deviceClaims"][0]["deviceInfo"] == {"model": "Kiosk 9"}

    typed = claim["claim_code_display"].lower()  # as a person types it
    data = await gql_data(
        api_client, APPROVE, {"code": typed, **placement, "name": "Window 1"}, token=operator.token
    )
    approved = data["approveDeviceClaim"]["claim"]
    assert approved["status"] == "APPROVED" and approved["flow"] == "SCREEN"
    assert approved["store"] == {"name": "Harbour Mall"}
    assert approved["group"] == {"name": "Window screens"}
    assert approved["name"] == "Window 1" and approved["device"] is None

    clock.advance(timedelta(seconds=5))
    tokens = await poll(edge_client, claim)
    assert tokens.status_code == 200, tokens.text
    used = await gql_data(api_client, LIST, {"status": "USED"}, token=operator.token)
    [row] = used["deviceClaims"]
    assert row["deviceId"] == tokens.json()["device_id"]
    assert row["device"] == {"id": row["deviceId"], "name": "Window 1", "status": "PENDING"}

    async with services.engine.connect() as conn:
        audit = (
            await conn.execute(
                select(audit_log).where(audit_log.c.action == "device_claim.approved")
            )
        ).one()
    assert audit.actor_user_id == operator.id and audit.target_id == approved["id"]
    assert audit.details_json["store_id"] == placement["store"]


async def test_a_denied_code_tells_the_player_to_stop(
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    operator: ConsoleUser,
) -> None:
    claim = await screen_claim(edge_client)
    data = await gql_data(api_client, DENY, {"code": claim["claim_code"]}, token=operator.token)
    assert data["denyDeviceClaim"]["claim"]["status"] == "DENIED"
    answer = await poll(edge_client, claim)
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "access_denied"
    again = await gql_data(api_client, DENY, {"code": claim["claim_code"]}, token=operator.token)
    assert again["denyDeviceClaim"]["__typename"] == "ConflictError"


async def test_installer_codes_for_a_day_of_installs(
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    services: Services,
    operator: ConsoleUser,
    placement: dict[str, str],
) -> None:
    names = [f"Aisle {i}" for i in range(1, 6)]
    data = await gql_data(api_client, CREATE, {**placement, "names": names}, token=operator.token)
    claims = data["createDeviceClaims"]["claims"]
    assert [c["name"] for c in claims] == names
    assert len({c["claimCode"] for c in claims}) == 5
    assert {(c["flow"], c["status"], c["storeId"], c["groupId"]) for c in claims} == {
        ("CONSOLE", "APPROVED", placement["store"], placement["group"])
    }
    response = await edge_client.post(
        "/v1/device/pairing/claim", json={"claim_code": claims[2]["displayCode"]}
    )
    assert response.status_code == 200, response.text
    async with services.engine.connect() as conn:
        device = (await conn.execute(select(devices))).one()
    assert device.external_name == "Aisle 3" and str(device.store_id) == placement["store"]

    unnamed = await gql_data(api_client, CREATE, {**placement, "count": 20}, token=operator.token)
    assert len(unnamed["createDeviceClaims"]["claims"]) == 20
    assert {c["name"] for c in unnamed["createDeviceClaims"]["claims"]} == {None}


@pytest.mark.parametrize(
    ("variables", "typename", "field"),
    [
        ({}, "ValidationError", "count"),
        ({"count": 0}, "ValidationError", "count"),
        ({"count": 501}, "ValidationError", "count"),
        ({"names": ["a", "b"], "count": 3}, "ValidationError", "count"),
        ({"count": 1, "hours": 24 * 31}, "ValidationError", "expiresInHours"),
        ({"names": ["x" * 201]}, "ValidationError", "names[0]"),
    ],
)
async def test_create_claims_input_errors(
    variables: dict[str, Any],
    typename: str,
    field: str,
    api_client: httpx.AsyncClient,
    operator: ConsoleUser,
    placement: dict[str, str],
) -> None:
    data = await gql_data(api_client, CREATE, {**placement, **variables}, token=operator.token)
    result = data["createDeviceClaims"]
    assert (result["__typename"], result["field"]) == (typename, field)


async def test_unknown_store_or_group(
    api_client: httpx.AsyncClient, operator: ConsoleUser, placement: dict[str, str]
) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    data = await gql_data(
        api_client, CREATE, {**placement, "store": missing, "count": 1}, token=operator.token
    )
    assert data["createDeviceClaims"]["__typename"] == "NotFoundError"
    assert data["createDeviceClaims"]["field"] == "storeId"


async def test_approval_conflicts(
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    services: Services,
    operator: ConsoleUser,
    placement: dict[str, str],
    clock: FrozenClock,
) -> None:
    async def approve(code: str) -> dict[str, Any]:
        token = mint_console_token(services, operator.id, operator.role)  # the clock moves
        data = await gql_data(api_client, APPROVE, {"code": code, **placement}, token=token)
        return dict(data["approveDeviceClaim"])

    assert (await approve("BCDF-GHJK"))["__typename"] == "NotFoundError"
    assert (await approve("not a code"))["__typename"] == "NotFoundError"

    claim = await screen_claim(edge_client)
    assert (await approve(claim["claim_code"]))["__typename"] == "DeviceClaimSuccess"
    twice = await approve(claim["claim_code"])
    assert (twice["__typename"], twice["code"]) == ("ConflictError", "NOT_PENDING")

    installer = await gql_data(api_client, CREATE, {**placement, "count": 1}, token=operator.token)
    code = installer["createDeviceClaims"]["claims"][0]["claimCode"]
    assert (await approve(code))["__typename"] == "ConflictError"

    late = await screen_claim(edge_client)
    clock.advance(timedelta(minutes=16))
    assert (await approve(late["claim_code"]))["__typename"] == "ConflictError"


async def test_expired_claims_are_listed_only_on_request(
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    services: Services,
    operator: ConsoleUser,
    clock: FrozenClock,
) -> None:
    claim = await screen_claim(edge_client)
    clock.advance(timedelta(minutes=20))
    token = mint_console_token(services, operator.id, operator.role)
    assert (await gql_data(api_client, LIST, {}, token=token))["deviceClaims"] == []
    listed = await gql_data(api_client, LIST, {"expired": True}, token=token)
    [row] = listed["deviceClaims"]
    assert row["claimCode"] == claim["claim_code"] and row["expired"] is True


async def test_pairing_needs_manage_fleet(
    api_client: httpx.AsyncClient,
    edge_client: httpx.AsyncClient,
    services: Services,
    placement: dict[str, str],
) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    claim = await screen_claim(edge_client)
    data = await gql_data(
        api_client, APPROVE, {"code": claim["claim_code"], **placement}, token=viewer.token
    )
    assert data["approveDeviceClaim"]["__typename"] == "PermissionDeniedError"
    created = await gql_data(api_client, CREATE, {**placement, "count": 1}, token=viewer.token)
    assert created["createDeviceClaims"]["__typename"] == "PermissionDeniedError"
    # Installer codes are credentials: a viewer cannot list them either.
    assert error_codes(await gql(api_client, LIST, {}, token=viewer.token)) == ["FORBIDDEN"]
    assert error_codes(await gql(api_client, LIST, {})) == ["UNAUTHENTICATED"]
    assert (await poll(edge_client, claim)).json()["error"]["code"] == "authorization_pending"
