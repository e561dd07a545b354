"""Protection: depth, alias and token limits, page size and cursors, GET and batching rules,
and production settings (no introspection, no GraphiQL, masked unexpected errors)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import strawberry
import websockets
from websockets.exceptions import ConnectionClosed

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from core.db.enums import Role
from core.errors import NotFound
from graphql_api.app import create_app
from graphql_api.errors import DomainErrorCodes, MaskUnexpectedErrors
from graphql_api.relay import MAX_PAGE_SIZE
from graphql_api.schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS
from tests.conftest import TEST_JWT_KEYS
from tests.graphql_api.helpers import (
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    insert_devices,
    serve,
)


async def test_depth_limit(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    nested = "id"
    for _ in range(MAX_DEPTH + 1):
        nested = f"store {{ {nested} }}"
    body = await gql(api_client, f"{{ devices {{ nodes {{ {nested} }} }} }}", token=user.token)
    assert body["data"] is None
    assert any("exceeds maximum operation depth" in e["message"] for e in body["errors"])
    assert set(error_codes(body)) == {"VALIDATION_ERROR"}


async def test_alias_limit(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    ok = " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES))
    assert not (await gql(api_client, f"{{ {ok} }}", token=user.token)).get("errors")
    too_many = " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES + 1))
    body = await gql(api_client, f"{{ {too_many} }}", token=user.token)
    assert body["data"] is None
    assert "aliases" in body["errors"][0]["message"]


async def test_token_limit(api_client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    huge = "{ me { " + "id " * MAX_TOKENS + "} }"
    body = await gql(api_client, huge, token=user.token)
    assert body["data"] is None
    assert "tokens" in body["errors"][0]["message"]
    assert error_codes(body) == ["VALIDATION_ERROR"]


async def test_page_size_cap_and_cursor_validation(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    query = """query($first: Int, $last: Int, $after: String) {
      devices(first: $first, last: $last, after: $after) { totalCount nodes { id } }
    }"""

    async def codes(**variables: object) -> list[str]:
        return error_codes(await gql(api_client, query, dict(variables), token=user.token))

    assert await codes(first=MAX_PAGE_SIZE) == []
    assert await codes(first=MAX_PAGE_SIZE + 1) == ["PAGE_SIZE_EXCEEDED"]
    assert await codes(last=1000) == ["PAGE_SIZE_EXCEEDED"]
    assert await codes(first=-1) == ["OUT_OF_RANGE"]
    assert await codes(first=1, last=1) == ["INVALID"]
    assert await codes(after="garbage!") == ["INVALID_CURSOR"]
    stores = await gql_data(
        api_client, "{ stores(first: 1) { edges { cursor } } }", token=user.token
    )
    assert stores["stores"]["edges"] == []
    await insert_devices(services, [{"external_name": "x"}])
    cursor = (
        await gql_data(api_client, "{ devices(first: 1) { edges { cursor } } }", token=user.token)
    )["devices"]["edges"][0]["cursor"]
    name_order = (
        """query($after: String) { devices(orderBy: NAME, after: $after) { totalCount } }"""
    )
    body = await gql(api_client, name_order, {"after": cursor}, token=user.token)
    assert error_codes(body) == ["INVALID_CURSOR"]  # a cursor belongs to its ordering


async def test_mutations_over_get_are_refused(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    mutation = 'mutation { createStore(input: {name: "Via GET", timezone: "UTC"}) { __typename } }'
    response = await api_client.get(
        "/graphql", params={"query": mutation}, headers={"Authorization": f"Bearer {user.token}"}
    )
    assert response.status_code == 400
    assert "mutations are not allowed when using GET" in response.text
    stores = await gql_data(api_client, "{ stores { totalCount } }", token=user.token)
    assert stores["stores"]["totalCount"] == 0
    # Read-only queries over GET are fine.
    response = await api_client.get(
        "/graphql",
        params={"query": "{ me { role } }"},
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert response.status_code == 200
    assert response.json()["data"] == {"me": {"role": "ADMIN"}}


async def test_batched_requests_are_refused(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    response = await api_client.post(
        "/graphql",
        json=[{"query": "{ me { id } }"}] * 2,
        headers={"Authorization": f"Bearer {user.token}"},
    )
    assert response.status_code == 400


async def test_graphiql_is_served_in_dev(api_client: httpx.AsyncClient) -> None:
    response = await api_client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_introspection_works_in_dev(api_client: httpx.AsyncClient) -> None:
    # GraphiQL needs it before anyone has logged in; production turns it off.
    body = await gql(api_client, "{ __schema { queryType { name } } }")
    assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}


@pytest.fixture
async def production_client(
    database_url: str, redis_prefix: str, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    settings = Settings.model_validate(
        {
            "SIGNAGE_ENV": "production",
            "DATABASE_URL": database_url,
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "REDIS_KEY_PREFIX": redis_prefix,
            "SIGNAGE_DATA_DIR": str(tmp_path / "data"),
            "JWT_KEYS": TEST_JWT_KEYS,
            "JWT_ACTIVE_KID": "k1",
            "STORAGE_SIGNING_SECRET": "prod-storage-signing-secret-0123456789abcdef",
        }
    )
    settings.ensure_safe()
    services = build_services(settings, clock=clock)
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client, services
    await services.close()


async def test_production_disables_introspection_and_graphiql(
    production_client: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = production_client
    user = await create_user_and_token(services, Role.ADMIN)
    body = await gql(client, "{ __schema { types { name } } }", token=user.token)
    assert body["data"] is None
    assert "introspection" in body["errors"][0]["message"].lower()
    body = await gql(client, '{ __type(name: "Store") { name } }', token=user.token)
    assert body["data"] is None
    response = await client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 404
    # The API itself works, and expected errors stay readable.
    assert (await gql_data(client, "{ me { role } }", token=user.token)) == {
        "me": {"role": "ADMIN"}
    }
    body = await gql(client, "{ devices(first: 500) { totalCount } }", token=user.token)
    assert error_codes(body) == ["PAGE_SIZE_EXCEEDED"]
    assert "at most 100" in body["errors"][0]["message"]


async def test_production_masks_unexpected_errors(
    production_client: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = production_client
    await services.engine.dispose()
    # Point the engine at a database that does not exist: the failure is unexpected.
    from core.db.engine import create_engine

    broken_url = services.settings.database_url.rsplit("/", 1)[0] + "/no_such_database_x"  # type: ignore[union-attr]
    services.engine = create_engine(broken_url)
    body = await gql(
        client,
        'mutation { login(email: "a@example.test", password: "whatever-pass") { __typename } }',
    )
    assert body["data"] is None
    assert body["errors"][0]["message"] == "Unexpected error."
    assert error_codes(body) == ["INTERNAL_ERROR"]
    assert "no_such_database" not in json.dumps(body)
    assert "Traceback" not in json.dumps(body)


def test_mask_extension_keeps_expected_errors_readable() -> None:
    @strawberry.type
    class Query:
        @strawberry.field
        def secret(self) -> str:
            raise RuntimeError("password=hunter2 at db.internal")

        @strawberry.field
        def missing(self) -> str:
            raise NotFound("no such thing", field="id")

    schema = strawberry.Schema(Query, extensions=[DomainErrorCodes, MaskUnexpectedErrors])
    result = schema.execute_sync("{ secret }")
    assert result.errors is not None
    assert result.errors[0].message == "Unexpected error."
    assert result.errors[0].extensions == {"code": "INTERNAL_ERROR"}
    result = schema.execute_sync("{ missing }")
    assert result.errors is not None
    assert result.errors[0].message == "no such thing"
    assert result.errors[0].extensions == {"code": "NOT_FOUND", "field": "id"}


async def test_websocket_speaks_only_graphql_transport_ws_and_needs_a_token(
    services: Services,
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    async with serve(create_app(services=services)) as host:
        url = f"ws://{host}/graphql"
        async with websockets.connect(url, subprotocols=["graphql-ws"]) as ws:  # type: ignore[list-item]
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4406

        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            await ws.send(
                json.dumps({"type": "connection_init", "payload": {"authorization": "Bearer nope"}})
            )
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403

        async with websockets.connect(url, subprotocols=["graphql-transport-ws"]) as ws:  # type: ignore[list-item]
            init = {"type": "connection_init", "payload": {"authorization": f"Bearer {user.token}"}}
            await ws.send(json.dumps(init))
            assert json.loads(await ws.recv()) == {"type": "connection_ack"}
            await ws.send(
                json.dumps(
                    {"id": "1", "type": "subscribe", "payload": {"query": "{ me { role } }"}}
                )
            )
            message = json.loads(await ws.recv())
            assert message == {
                "id": "1",
                "type": "next",
                "payload": {"data": {"me": {"role": "VIEWER"}}},
            }


async def test_oversized_bodies_are_refused_before_parsing(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    limit = services.settings.max_request_bytes
    payload = json.dumps({"query": "{ me { id } }", "variables": {"pad": "x" * limit}})
    response = await api_client.post(
        "/graphql", content=payload, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        for _ in range(limit // 65536 + 2):
            yield b" " * 65536

    response = await api_client.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
