"""The permission matrix: every role against every mutation of auth, users and the fleet.

A denied call returns a typed PermissionDeniedError and changes nothing (no audit row, which
is written in the same transaction as any change). Schema-wide guards check that every root
field needs a console token and that no mutation is open to the read-only VIEWER role.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log
from core.kernel.actor import ROLE_PERMISSIONS
from graphql_api.permissions import IsAuthenticated, _HasPermission
from graphql_api.schema import schema
from tests.graphql_api.helpers import (
    create_user,
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    insert_device,
    insert_group,
    insert_store,
)

Setup = Callable[[Services], Awaitable[dict[str, Any]]]
ADMIN_ONLY = frozenset({Role.ADMIN})
FLEET = frozenset({Role.ADMIN, Role.OPERATOR})
EVERYONE = frozenset(Role)


@dataclass(frozen=True)
class Case:
    field: str
    document: str
    setup: Setup
    success: str
    allowed: frozenset[Role]


def _mutation(field: str, signature: str, call: str) -> str:
    return f"""
      mutation{signature} {{
        {field}{call} {{ __typename ... on Error {{ code }} }}
      }}
    """


async def _user_id(services: Services) -> dict[str, Any]:
    user_id, _ = await create_user(services, role=Role.VIEWER)
    return {"id": str(user_id)}


async def _disabled_user_id(services: Services) -> dict[str, Any]:
    user_id, _ = await create_user(services, role=Role.VIEWER, disabled=True)
    return {"id": str(user_id)}


async def _nothing(services: Services) -> dict[str, Any]:
    return {}


async def _store(services: Services) -> dict[str, Any]:
    return {"id": str(await insert_store(services))}


async def _group(services: Services) -> dict[str, Any]:
    return {"id": str(await insert_group(services))}


async def _device(services: Services) -> dict[str, Any]:
    return {"id": str(await insert_device(services))}


async def _assignment(services: Services) -> dict[str, Any]:
    return {
        "id": str(await insert_device(services)),
        "store": str(await insert_store(services)),
    }


CASES = [
    Case(
        "createUser",
        _mutation(
            "createUser",
            "",
            '(input: {email: "new@example.test", password: "long enough pw", role: VIEWER})',
        ),
        _nothing,
        "UserSuccess",
        ADMIN_ONLY,
    ),
    Case(
        "updateUserRole",
        _mutation("updateUserRole", "($id: UUID!)", "(id: $id, role: OPERATOR)"),
        _user_id,
        "UserSuccess",
        ADMIN_ONLY,
    ),
    Case(
        "disableUser",
        _mutation("disableUser", "($id: UUID!)", "(id: $id)"),
        _user_id,
        "UserSuccess",
        ADMIN_ONLY,
    ),
    Case(
        "enableUser",
        _mutation("enableUser", "($id: UUID!)", "(id: $id)"),
        _disabled_user_id,
        "UserSuccess",
        ADMIN_ONLY,
    ),
    Case(
        "logout",
        _mutation("logout", "", "(everywhere: true)"),
        _nothing,
        "LogoutSuccess",
        EVERYONE,
    ),
    Case(
        "createStore",
        _mutation("createStore", "", '(input: {name: "S", timezone: "Europe/Paris"})'),
        _nothing,
        "StoreSuccess",
        FLEET,
    ),
    Case(
        "updateStore",
        _mutation("updateStore", "($id: UUID!)", '(id: $id, input: {name: "Renamed"})'),
        _store,
        "StoreSuccess",
        FLEET,
    ),
    Case(
        "deleteStore",
        _mutation("deleteStore", "($id: UUID!)", "(id: $id)"),
        _store,
        "DeleteSuccess",
        FLEET,
    ),
    Case(
        "createDeviceGroup",
        _mutation("createDeviceGroup", "", '(input: {name: "New group"})'),
        _nothing,
        "DeviceGroupSuccess",
        FLEET,
    ),
    Case(
        "updateDeviceGroup",
        _mutation(
            "updateDeviceGroup", "($id: UUID!)", "(id: $id, input: {heartbeatIntervalSeconds: 90})"
        ),
        _group,
        "DeviceGroupSuccess",
        FLEET,
    ),
    Case(
        "deleteDeviceGroup",
        _mutation("deleteDeviceGroup", "($id: UUID!)", "(id: $id)"),
        _group,
        "DeleteSuccess",
        FLEET,
    ),
    Case(
        "renameDevice",
        _mutation("renameDevice", "($id: UUID!)", '(id: $id, name: "New name")'),
        _device,
        "DeviceSuccess",
        FLEET,
    ),
    Case(
        "assignDevice",
        _mutation(
            "assignDevice", "($id: UUID!, $store: UUID!)", "(id: $id, input: {storeId: $store})"
        ),
        _assignment,
        "DeviceSuccess",
        FLEET,
    ),
    Case(
        "assignDevices",
        _mutation(
            "assignDevices",
            "($id: UUID!, $store: UUID!)",
            "(deviceIds: [$id], input: {storeId: $store})",
        ),
        _assignment,
        "DevicesSuccess",
        FLEET,
    ),
    Case(
        "decommissionDevice",
        _mutation("decommissionDevice", "($id: UUID!)", "(id: $id)"),
        _device,
        "DeviceSuccess",
        FLEET,
    ),
]


async def _audit_count(services: Services) -> int:
    async with services.engine.connect() as conn:
        count = (await conn.execute(sa.select(sa.func.count()).select_from(audit_log))).scalar()
    return int(count or 0)


@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.field)
async def test_role_against_mutation(
    api_client: httpx.AsyncClient, services: Services, case: Case, role: Role
) -> None:
    variables = await case.setup(services)
    user = await create_user_and_token(services, role)
    data = await gql_data(api_client, case.document, variables, token=user.token)
    result = data[case.field]
    if role in case.allowed:
        assert result["__typename"] == case.success, result
        assert await _audit_count(services) >= 1
    else:
        assert result == {"__typename": "PermissionDeniedError", "code": "FORBIDDEN"}
        assert await _audit_count(services) == 0


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.field)
async def test_mutation_without_token_is_unauthenticated(
    api_client: httpx.AsyncClient, services: Services, case: Case
) -> None:
    variables = await case.setup(services)
    body = await gql(api_client, case.document, variables)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]
    assert await _audit_count(services) == 0


@pytest.mark.parametrize(
    ("query", "allowed"),
    [
        ("{ users { totalCount } }", ADMIN_ONLY),
        ('{ user(id: "00000000-0000-0000-0000-000000000000") { id } }', ADMIN_ONLY),
        ("{ me { id } }", EVERYONE),
        ("{ stores { totalCount } }", EVERYONE),
        ("{ deviceGroups { totalCount } }", EVERYONE),
        ("{ devices { totalCount } }", EVERYONE),
        ("{ auditLog { totalCount } }", EVERYONE),
    ],
)
@pytest.mark.parametrize("role", list(Role), ids=lambda r: r.value)
async def test_role_against_query(
    api_client: httpx.AsyncClient,
    services: Services,
    query: str,
    allowed: frozenset[Role],
    role: Role,
) -> None:
    user = await create_user_and_token(services, role)
    body = await gql(api_client, query, token=user.token)
    if role in allowed:
        assert not body.get("errors"), body
    else:
        assert error_codes(body) == ["FORBIDDEN"]


def _root_fields() -> list[tuple[str, Any]]:
    fields = []
    for root in (schema.query, schema.mutation, schema.subscription):
        if root is None:
            continue
        definition = root.__strawberry_definition__
        fields.extend((f"{definition.name}.{f.python_name}", f) for f in definition.fields)
    return fields


PUBLIC_FIELDS = {"Mutation.login", "Mutation.refresh_token"}


def test_every_root_field_except_login_and_refresh_requires_a_token() -> None:
    unprotected = [
        name
        for name, field in _root_fields()
        if name not in PUBLIC_FIELDS
        and not any(issubclass(p, IsAuthenticated) for p in field.permission_classes)
    ]
    assert unprotected == []


# Mutations a VIEWER may call: only what concerns their own session.
VIEWER_MUTATIONS = {"Mutation.logout"}


def test_no_mutation_is_open_to_viewers_except_their_own_session() -> None:
    viewer = ROLE_PERMISSIONS[Role.VIEWER]

    def allows_viewer(field: Any) -> bool:
        return all(
            not issubclass(p, _HasPermission) or p.permission in viewer
            for p in field.permission_classes
        )

    open_to_viewer = {
        name
        for name, field in _root_fields()
        if name.startswith("Mutation.") and name not in PUBLIC_FIELDS and allows_viewer(field)
    }
    assert open_to_viewer == VIEWER_MUTATIONS


async def test_admin_cannot_demote_or_disable_themselves(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    for document in (
        CASES[1].document,  # updateUserRole
        CASES[2].document,  # disableUser
    ):
        data = await gql_data(api_client, document, {"id": str(admin.id)}, token=admin.token)
        assert next(iter(data.values())) == {"__typename": "ConflictError", "code": "CONFLICT"}


async def test_create_user_validation_and_duplicates(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    create = """mutation($input: CreateUserInput!) {
      createUser(input: $input) {
        __typename
        ... on UserSuccess { user { email role disabled } }
        ... on ValidationError { errors { field code } }
        ... on ConflictError { code field }
      }
    }"""
    bad = {"email": "not-an-email", "password": "short", "role": "VIEWER"}
    data = await gql_data(api_client, create, {"input": bad}, token=admin.token)
    assert data["createUser"]["errors"] == [
        {"field": "email", "code": "INVALID_FORMAT"},
        {"field": "password", "code": "TOO_SHORT"},
    ]
    good = {"email": " New.Person@Example.TEST ", "password": "long enough pw", "role": "OPERATOR"}
    data = await gql_data(api_client, create, {"input": good}, token=admin.token)
    assert data["createUser"]["user"] == {
        "email": "new.person@example.test",
        "role": "OPERATOR",
        "disabled": False,
    }
    data = await gql_data(api_client, create, {"input": good}, token=admin.token)
    assert data["createUser"] == {
        "__typename": "ConflictError",
        "code": "DUPLICATE",
        "field": "email",
    }
    async with services.engine.connect() as conn:
        audit = (await conn.execute(sa.select(audit_log))).one()
    assert audit.action == "user.create"
    assert "password_hash" not in audit.details_json["after"]


async def test_role_change_applies_to_open_sessions(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    operator = await create_user_and_token(services, Role.OPERATOR)
    data = await gql_data(
        api_client,
        CASES[1].document.replace("OPERATOR", "VIEWER"),
        {"id": str(operator.id)},
        token=admin.token,
    )
    assert data["updateUserRole"]["__typename"] == "UserSuccess"
    body = await gql(api_client, "{ me { role } }", token=operator.token)
    assert error_codes(body) == ["INVALID_TOKEN"]  # epoch bumped: log in again
    body = await gql(api_client, "{ users { totalCount } }", token=admin.token)
    assert body["data"]["users"]["totalCount"] == 2
    unknown = {"id": str(uuid.uuid4())}
    data = await gql_data(api_client, CASES[2].document, unknown, token=admin.token)
    assert data["disableUser"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
