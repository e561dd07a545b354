"""GraphQL at the edges of the spec and of production:

- no "Did you mean" suggestions in production error messages (they spell out the schema);
- a document with several operations and no operationName is refused (GetOperation), over HTTP
  and over the websocket, and none of its operations runs;
- every request the view refuses before running an operation answers JSON with a 4xx;
- the audit log hides the contents of `user.*` / `auth.*` entries from roles that cannot
  manage users.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from core.db.enums import Role
from graphql_api.app import create_app
from tests.conftest import TEST_JWT_KEYS
from tests.graphql_api.helpers import (
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    login,
    serve,
)

# Each of these draws a suggestion from graphql-core in development.
MISSPELLED = [
    ("field", "{ mee { id } }", None),
    ("argument", "{ stores(frist: 1) { totalCount } }", None),
    ("type", "query($f: AuditLogFiltr) { auditLog(filter: $f) { totalCount } }", None),
    ("enum literal", "{ auditLog(filter: {actorType: USR}) { totalCount } }", None),
    (
        "variable input field",
        "query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount } }",
        {"f": {"actorTyp": "USER"}},
    ),
    (
        "variable enum value",
        "query($f: AuditLogFilter) { auditLog(filter: $f) { totalCount } }",
        {"f": {"actorType": "USR"}},
    ),
]


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
    services = build_services(settings, clock=clock)
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield client, services
    await services.close()


# --- suggestions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "query", "variables"), MISSPELLED, ids=[c for c, _, _ in MISSPELLED]
)
async def test_production_errors_suggest_nothing(
    production_client: tuple[httpx.AsyncClient, Services],
    api_client: httpx.AsyncClient,
    case: str,
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    client, services = production_client
    user = await create_user_and_token(services, Role.ADMIN)
    body = await gql(client, query, variables, token=user.token)
    assert body["errors"], case
    assert "Did you mean" not in json.dumps(body)
    assert error_codes(body)[0] == "VALIDATION_ERROR"
    assert body["errors"][0]["message"].endswith((".", "'"))  # a whole sentence is left

    # Development keeps them: the same document does draw a suggestion.
    dev_body = await gql(api_client, query, variables)
    assert "Did you mean" in json.dumps(dev_body)


# --- several operations -----------------------------------------------------------------------

TWO_OPERATIONS = """
mutation Create { createStore(input: {name: "Ran anyway", timezone: "UTC"}) { __typename } }
query Count { stores { totalCount } }
"""


async def store_count(client: httpx.AsyncClient, token: str) -> int:
    data = await gql_data(client, "{ stores { totalCount } }", token=token)
    count: int = data["stores"]["totalCount"]
    return count


async def test_several_operations_need_an_operation_name_over_http(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    body = await gql(api_client, TWO_OPERATIONS, token=admin.token)
    assert body["data"] is None
    assert body["errors"][0]["message"] == (
        "Must provide operation name if query contains multiple operations."
    )
    assert error_codes(body) == ["VALIDATION_ERROR"]
    assert await store_count(api_client, admin.token) == 0  # the first one did not run

    named = await api_client.post(
        "/graphql",
        json={"query": TWO_OPERATIONS, "operationName": "Count"},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert named.json() == {"data": {"stores": {"totalCount": 0}}}
    unknown = await api_client.post(
        "/graphql",
        json={"query": TWO_OPERATIONS, "operationName": "Nope"},
        headers={"Authorization": f"Bearer {admin.token}"},
    )
    assert unknown.status_code == 400
    assert unknown.json()["errors"][0]["extensions"]["code"] == "BAD_REQUEST"
    assert await store_count(api_client, admin.token) == 0


async def test_several_operations_need_an_operation_name_over_the_websocket(
    services: Services,
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    async with (
        serve(create_app(services=services)) as host,
        websockets.connect(f"ws://{host}/graphql", subprotocols=["graphql-transport-ws"]) as ws,  # type: ignore[list-item]
    ):
        init = {"type": "connection_init", "payload": {"authorization": f"Bearer {admin.token}"}}
        await ws.send(json.dumps(init))
        assert json.loads(await ws.recv()) == {"type": "connection_ack"}
        await ws.send(
            json.dumps({"id": "1", "type": "subscribe", "payload": {"query": TWO_OPERATIONS}})
        )
        message = json.loads(await ws.recv())
        assert message["id"] == "1" and message["type"] == "error", message
        assert message["payload"][0]["message"] == (
            "Must provide operation name if query contains multiple operations."
        )
        await ws.send(
            json.dumps(
                {
                    "id": "2",
                    "type": "subscribe",
                    "payload": {"query": TWO_OPERATIONS, "operationName": "Count"},
                }
            )
        )
        answer = json.loads(await ws.recv())
        assert answer["type"] == "next", answer
        assert answer["payload"]["data"] == {"stores": {"totalCount": 0}}


# --- refusals answer JSON ---------------------------------------------------------------------


def assert_json_refusal(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == {"errors"}  # a request error: no `data` at all (GraphQL over HTTP)
    [error] = body["errors"]
    assert error["extensions"] == {"code": code}
    message: str = error["message"]
    return message


async def test_refused_requests_answer_json(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    auth = {"Authorization": f"Bearer {admin.token}"}

    batch = await api_client.post("/graphql", json=[{"query": "{ me { id } }"}] * 2, headers=auth)
    assert "batching" in assert_json_refusal(batch, 400, "BAD_REQUEST").lower()
    bad_json = await api_client.post(
        "/graphql", content=b'{"query": ', headers={**auth, "Content-Type": "application/json"}
    )
    assert "JSON" in assert_json_refusal(bad_json, 400, "BAD_REQUEST")
    wrong_type = await api_client.post(
        "/graphql", content=b"query { me { id } }", headers={**auth, "Content-Type": "text/plain"}
    )
    assert "content type" in assert_json_refusal(wrong_type, 400, "BAD_REQUEST").lower()
    mutation_over_get = await api_client.get(
        "/graphql",
        params={
            "query": 'mutation { createStore(input: {name: "G", timezone: "UTC"}) { __typename } }'
        },
        headers=auth,
    )
    assert "GET" in assert_json_refusal(mutation_over_get, 400, "BAD_REQUEST")
    no_query = await api_client.post("/graphql", json={"variables": {}}, headers=auth)
    assert "query" in assert_json_refusal(no_query, 400, "BAD_REQUEST").lower()
    not_a_string = await api_client.post("/graphql", json={"query": 42}, headers=auth)
    assert_json_refusal(not_a_string, 400, "BAD_REQUEST")
    get_without_query = await api_client.get(
        "/graphql", headers={**auth, "Accept": "application/json"}
    )
    assert_json_refusal(get_without_query, 400, "BAD_REQUEST")
    wrong_method = await api_client.put("/graphql", json={"query": "{ me { id } }"}, headers=auth)
    assert "GET and POST" in assert_json_refusal(wrong_method, 405, "METHOD_NOT_ALLOWED")
    assert await store_count(api_client, admin.token) == 0


async def test_production_refusals_answer_json_too(
    production_client: tuple[httpx.AsyncClient, Services],
) -> None:
    client, _ = production_client
    no_graphiql = await client.get("/graphql", headers={"Accept": "text/html"})
    assert_json_refusal(no_graphiql, 404, "NOT_FOUND")
    batch = await client.post("/graphql", json=[{"query": "{ me { id } }"}])
    assert_json_refusal(batch, 400, "BAD_REQUEST")


# --- audit log --------------------------------------------------------------------------------

AUDIT = """
query($filter: AuditLogFilter) {
  auditLog(filter: $filter) {
    nodes { action targetType targetId details before after redacted actorEmail }
  }
}
"""


async def audit_nodes(client: httpx.AsyncClient, token: str) -> dict[str, dict[str, Any]]:
    data = await gql_data(client, AUDIT, token=token)
    return {node["action"]: node for node in data["auditLog"]["nodes"]}


async def test_user_and_auth_entries_keep_their_contents_for_user_managers(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    operator = await create_user_and_token(services, Role.OPERATOR)
    viewer = await create_user_and_token(services, Role.VIEWER)
    promoted = await create_user_and_token(services, Role.VIEWER)
    await gql_data(
        api_client,
        "mutation($id: UUID!) { updateUserRole(id: $id, role: OPERATOR) { __typename } }",
        {"id": str(promoted.id)},
        token=admin.token,
    )
    typed_password = "my-secret-password-typed-as-email"
    failed = await login(api_client, typed_password, "whatever-password")
    assert failed["__typename"] != "AuthPayload"
    await gql_data(
        api_client,
        'mutation { createStore(input: {name: "Kept", timezone: "UTC"}) { __typename } }',
        token=operator.token,
    )

    as_admin = await audit_nodes(api_client, admin.token)
    assert set(as_admin) >= {"user.update_role", "auth.login_failed", "store.create"}
    role_change = as_admin["user.update_role"]
    assert role_change["redacted"] is False
    assert role_change["targetId"] == str(promoted.id)
    assert role_change["before"]["role"] == "VIEWER" and role_change["after"]["role"] == "OPERATOR"
    assert as_admin["auth.login_failed"]["targetId"] == typed_password
    assert as_admin["auth.login_failed"]["details"]["reason"]

    for reader in (operator, viewer):
        nodes = await audit_nodes(api_client, reader.token)
        for action in ("user.update_role", "auth.login_failed"):
            hidden = nodes[action]
            assert hidden["redacted"] is True
            assert (hidden["targetId"], hidden["details"], hidden["before"], hidden["after"]) == (
                None,
                None,
                None,
                None,
            )
            assert hidden["targetType"] == "user"  # the row itself stays listed
        assert nodes["user.update_role"]["actorEmail"] == admin.email
        assert typed_password not in json.dumps(nodes)
        store = nodes["store.create"]
        assert store["redacted"] is False
        assert store["after"]["name"] == "Kept"
