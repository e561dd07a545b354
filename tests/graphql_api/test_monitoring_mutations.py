"""acknowledgeIncident and resolveIncident over real HTTP: typed results, audit, permissions."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import audit_log, incidents
from core.monitoring.sweep import run_sweep
from tests.conftest import T0
from tests.graphql_api.helpers import create_user_and_token, error_codes, gql, gql_data
from tests.monitoring.factories import make_device, make_store

ACTION_FIELDS = """
    __typename
    ... on IncidentSuccess {
      incident { id status acknowledgedBy resolvedBy resolvedAt details }
    }
    ... on Error { code message field }
"""
ACKNOWLEDGE = f"""
mutation Ack($id: UUID!, $note: String) {{
  acknowledgeIncident(id: $id, note: $note) {{ {ACTION_FIELDS} }}
}}
"""
RESOLVE = f"""
mutation Resolve($id: UUID!, $note: String) {{
  resolveIncident(id: $id, note: $note) {{ {ACTION_FIELDS} }}
}}
"""


async def open_incident(services: Services) -> uuid.UUID:
    store = await make_store(services)
    await make_device(services, store_id=store, last_seen_at=T0 - timedelta(hours=1))
    [incident] = (await run_sweep(services)).opened
    return incident.id


async def run(
    client: httpx.AsyncClient, mutation: str, token: str, **variables: Any
) -> dict[str, Any]:
    data = await gql_data(client, mutation, variables, token=token)
    (result,) = data.values()
    assert isinstance(result, dict)
    return result


async def test_operator_acknowledges_then_resolves_with_audit(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    incident_id = await open_incident(services)
    operator = await create_user_and_token(services, Role.OPERATOR)

    acked = await run(api_client, ACKNOWLEDGE, operator.token, id=str(incident_id), note="looking")
    assert acked["__typename"] == "IncidentSuccess"
    assert acked["incident"]["status"] == "ACKNOWLEDGED"
    assert acked["incident"]["acknowledgedBy"] == str(operator.id)

    resolved = await run(api_client, RESOLVE, operator.token, id=str(incident_id))
    assert resolved["incident"]["status"] == "RESOLVED"
    assert resolved["incident"]["resolvedBy"] == str(operator.id)
    assert resolved["incident"]["details"]["resolution"]["by"] == "operator"

    again = await run(api_client, RESOLVE, operator.token, id=str(incident_id))
    assert (again["__typename"], again["code"]) == ("ConflictError", "CONFLICT")

    async with services.engine.connect() as conn:
        audit = (
            await conn.execute(
                sa.select(audit_log.c.action, audit_log.c.actor_user_id, audit_log.c.target_id)
                .where(audit_log.c.target_type == "incident")
                .order_by(audit_log.c.id)
            )
        ).all()
        status = await conn.scalar(sa.select(incidents.c.status))
    assert [tuple(row) for row in audit] == [
        ("incident.acknowledge", operator.id, str(incident_id)),
        ("incident.resolve", operator.id, str(incident_id)),
    ]
    assert status == "RESOLVED"


async def test_refusals_are_typed_errors(api_client: httpx.AsyncClient, services: Services) -> None:
    incident_id = await open_incident(services)
    viewer = await create_user_and_token(services, Role.VIEWER)
    admin = await create_user_and_token(services, Role.ADMIN)

    denied = await run(api_client, ACKNOWLEDGE, viewer.token, id=str(incident_id))
    assert (denied["__typename"], denied["code"]) == ("PermissionDeniedError", "FORBIDDEN")
    missing = await run(api_client, RESOLVE, admin.token, id=str(uuid.uuid4()))
    assert (missing["__typename"], missing["code"]) == ("NotFoundError", "NOT_FOUND")
    too_long = await run(api_client, RESOLVE, admin.token, id=str(incident_id), note="x" * 1001)
    assert (too_long["__typename"], too_long["field"]) == ("ValidationError", "note")

    anonymous = await gql(api_client, ACKNOWLEDGE, {"id": str(incident_id)})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]

    async with services.engine.connect() as conn:
        assert await conn.scalar(sa.select(incidents.c.status)) == "OPEN"
        assert await conn.scalar(sa.select(sa.func.count()).select_from(audit_log)) == 0
