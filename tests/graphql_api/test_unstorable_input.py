"""Issue 12, item 1 on the console API: no argument value makes an operation fail as
INTERNAL_ERROR, in development or in production (where unexpected errors are masked).

- a value PostgreSQL cannot store (NUL, a lone surrogate) or a date-time/date too close to
  years 1 and 9999, anywhere in the arguments: a mutation answers its typed ValidationError
  with the camelCase path of the value, a query a top-level error with that code;
- a cursor is input too: its decoded keys obey the same rule (INVALID_CURSOR);
- a value that does not parse as its scalar (BigInt, UUID, Date, DateTime, Int), as a
  variable or a literal: a top-level VALIDATION_ERROR, readable in production;
- the extremes that are accepted really work (no overflow, no unparsable plan boundary).

Variables are sent as ASCII JSON (`\\u0000`, `\\ud800` escapes), as a client would send them.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.bootstrap import Services, build_services
from core.clock import FrozenClock
from core.config import Settings
from core.db.enums import Role
from core.db.tables import device_claims, stores, users
from graphql_api.app import create_app
from graphql_api.input_rule import StorableInput
from graphql_api.schema import build_schema
from tests.conftest import TEST_JWT_KEYS
from tests.graphql_api.helpers import (
    bearer,
    create_user_and_token,
    error_codes,
    insert_device,
    insert_group,
    insert_playlist,
    insert_store,
)
from tests.harness import ServiceURLs

NUL = "\u0000"
SURROGATE = "\ud800"
ZERO_ID = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Api:
    client: httpx.AsyncClient
    services: Services
    token: str

    async def post(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One operation; the body is ASCII JSON, so lone surrogates travel as escapes."""
        response = await self.client.post(
            "/graphql",
            content=json.dumps({"query": query, "variables": variables or {}}),
            headers={**bearer(self.token), "Content-Type": "application/json"},
        )
        assert response.status_code == 200, (response.status_code, response.text)
        body: dict[str, Any] = response.json()
        assert_nothing_internal(body)
        return body


def assert_nothing_internal(body: dict[str, Any]) -> None:
    text = json.dumps(body)
    assert "INTERNAL_ERROR" not in text, body
    assert "Unexpected error." not in text, body
    assert "sqlalchemy" not in text.lower() and "asyncpg" not in text.lower(), body


@pytest.fixture(params=["test", "production"])
async def api(
    request: pytest.FixtureRequest,
    database_url: str,
    redis_prefix: str,
    service_urls: ServiceURLs,
    tmp_path: Path,
    clock: FrozenClock,
) -> AsyncIterator[Api]:
    """The api app over HTTP, with development settings and with production ones (masked
    unexpected errors, no introspection)."""
    settings = Settings.model_validate(
        {
            "SIGNAGE_ENV": request.param,
            "DATABASE_URL": database_url,
            "REDIS_URL": service_urls.redis,
            "REDIS_KEY_PREFIX": redis_prefix,
            "SIGNAGE_DATA_DIR": str(tmp_path / "data"),
            "JWT_KEYS": TEST_JWT_KEYS,
            "JWT_ACTIVE_KID": "k1",
            "STORAGE_SIGNING_SECRET": "prod-storage-signing-secret-0123456789abcdef",
        }
    )
    services = build_services(settings, clock=clock)
    admin = await create_user_and_token(services, Role.ADMIN)
    transport = httpx.ASGITransport(app=create_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        yield Api(client, services, admin.token)
    await services.close()


def typed_error(body: dict[str, Any], field_name: str) -> dict[str, Any]:
    assert not body.get("errors"), body
    result: dict[str, Any] = body["data"][field_name]
    assert result["__typename"] == "ValidationError", result
    return result


def top_level(body: dict[str, Any]) -> dict[str, Any]:
    """The single top-level error of a refused query."""
    assert body["data"] is None, body
    assert len(body["errors"]) == 1, body
    error: dict[str, Any] = body["errors"][0]
    return error


def cursor(ordering: str, keys: list[Any]) -> str:
    raw = json.dumps({"o": ordering, "k": keys}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def count(services: Services, table: sa.Table) -> int:
    async with services.engine.connect() as conn:
        return int((await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one())


ERROR_FIELDS = (
    "__typename ... on Error { code field message } "
    "... on ValidationError { errors { field code } }"
)

CREATE_STORE = f"""
mutation($input: CreateStoreInput!) {{ createStore(input: $input) {{ {ERROR_FIELDS} }} }}
"""
CREATE_CLAIMS = f"""
mutation($store: UUID!, $group: UUID!, $names: [String!]) {{
  createDeviceClaims(storeId: $store, groupId: $group, names: $names) {{ {ERROR_FIELDS} }}
}}
"""
CREATE_USER = f"""
mutation($input: CreateUserInput!) {{ createUser(input: $input) {{ {ERROR_FIELDS} }} }}
"""
LOGIN = f"""
mutation($email: String!, $password: String!) {{
  login(email: $email, password: $password) {{ {ERROR_FIELDS} }}
}}
"""


async def test_unstorable_text_in_mutation_inputs_is_a_typed_validation_error(api: Api) -> None:
    store_id = await insert_store(api.services)
    group_id = await insert_group(api.services)
    stores_before = await count(api.services, stores)

    cases: list[tuple[str, str, dict[str, Any], str, str]] = [
        (
            "createStore",
            CREATE_STORE,
            {"input": {"name": f"Main{NUL}Street", "timezone": "Europe/Berlin"}},
            "name",
            "NUL_CHARACTER",
        ),
        (
            "createStore",
            CREATE_STORE,
            {"input": {"name": f"Main{SURROGATE}Street", "timezone": "Europe/Berlin"}},
            "name",
            "UNPAIRED_SURROGATE",
        ),
        (
            "createStore",
            CREATE_STORE,
            {
                "input": {
                    "name": "Main Street",
                    "timezone": "Europe/Berlin",
                    "city": f"Ber{SURROGATE}lin",
                    "openingHours": {"mon": [{"open": "09:00", "close": f"18:00{NUL}"}]},
                }
            },
            "city",
            "UNPAIRED_SURROGATE",
        ),
        (
            "createDeviceClaims",
            CREATE_CLAIMS,
            {"store": str(store_id), "group": str(group_id), "names": ["Till 1", f"Till{NUL}2"]},
            "names[1]",
            "NUL_CHARACTER",
        ),
        (
            "createUser",
            CREATE_USER,
            {
                "input": {
                    "email": f"new{NUL}@example.test",
                    "password": "a long enough password",
                    "role": "VIEWER",
                }
            },
            "email",
            "NUL_CHARACTER",
        ),
        (
            "login",
            LOGIN,
            {"email": f"someone{SURROGATE}@example.test", "password": "whatever-pass"},
            "email",
            "UNPAIRED_SURROGATE",
        ),
    ]
    for name, query, variables, field, code in cases:
        result = typed_error(await api.post(query, variables), name)
        assert (result["field"], result["code"]) == (field, code), (variables, result)
        assert {"field": field, "code": code} in result["errors"]

    # Every bad value is listed, each with its path (nested ones included).
    nested = cases[2][2]
    result = typed_error(await api.post(CREATE_STORE, nested), "createStore")
    assert result["errors"] == [
        {"field": "city", "code": "UNPAIRED_SURROGATE"},
        {"field": "openingHours.mon[0].close", "code": "NUL_CHARACTER"},
    ]
    # The same value as a literal in the document.
    literal = await api.post(
        'mutation { createStore(input: {name: "a\\u0000b", timezone: "UTC"}) '
        f"{{ {ERROR_FIELDS} }} }}"
    )
    assert typed_error(literal, "createStore")["errors"] == [
        {"field": "name", "code": "NUL_CHARACTER"}
    ]
    # Nothing was written.
    assert await count(api.services, stores) == stores_before
    assert await count(api.services, device_claims) == 0
    assert await count(api.services, users) == 1


async def test_unstorable_text_in_filters_search_strings_and_cursors(api: Api) -> None:
    await insert_store(api.services, name="Alpha")
    cases: list[tuple[str, dict[str, Any], str, str]] = [
        (
            "query($s: String) { devices(filter: {search: $s}) { totalCount } }",
            {"s": f"scr{NUL}een"},
            "filter.search",
            "NUL_CHARACTER",
        ),
        (
            "query($s: String) { stores(filter: {search: $s}) { totalCount } }",
            {"s": f"al{SURROGATE}"},
            "filter.search",
            "UNPAIRED_SURROGATE",
        ),
        (
            "query($s: String) { auditLog(filter: {action: $s}) { totalCount } }",
            {"s": f"store.{NUL}"},
            "filter.action",
            "NUL_CHARACTER",
        ),
        (
            "query($s: String) { contents(filter: {tag: $s}) { totalCount } }",
            {"s": f"promo{NUL}"},
            "filter.tag",
            "NUL_CHARACTER",
        ),
        (
            "query($s: String) { users(filter: {search: $s}) { totalCount } }",
            {"s": f"{NUL}"},
            "filter.search",
            "NUL_CHARACTER",
        ),
        (
            "query($c: String) { stores(first: 5, after: $c) { totalCount } }",
            {"c": f"abc{NUL}"},
            "after",
            "NUL_CHARACTER",
        ),
        (
            "query($c: String) { devices(last: 5, before: $c) { totalCount } }",
            {"c": f"abc{SURROGATE}"},
            "before",
            "UNPAIRED_SURROGATE",
        ),
    ]
    for query, variables, field, code in cases:
        error = top_level(await api.post(query, variables))
        assert error["extensions"]["code"] == code, (query, error)
        assert error["extensions"]["field"] == field
        assert error["extensions"]["errors"][0]["field"] == field
        assert field in error["message"]

    # Well-formed cursors whose keys could not be bound to the query: refused as cursors.
    crafted: list[tuple[str, str]] = [
        ("stores", cursor("stores.name", [f"a{NUL}", ZERO_ID])),
        ("stores", cursor("stores.name", [f"a{SURROGATE}", ZERO_ID])),
        ("devices", cursor("devices.created", ["0001-01-01T00:00:00+05:00", ZERO_ID])),
        ("devices", cursor("devices.created", ["2026-03-02T10:00:00", ZERO_ID])),
        ("incidents", cursor("incidents.created-desc", ["9999-12-31T23:59:59-05:00", ZERO_ID])),
        ("auditLog", cursor("audit_log.id-desc", [10**30])),
    ]
    for field, after in crafted:
        body = await api.post(
            f"query($c: String) {{ {field}(after: $c) {{ totalCount }} }}", {"c": after}
        )
        assert error_codes(body) == ["INVALID_CURSOR"], (field, after, body)


COERCION_CASES: list[tuple[str, dict[str, Any]]] = [
    # BigInt
    (
        'mutation($b: BigInt) { createDeviceGroup(input: {name: "g", storageCapBytes: $b}) '
        "{ __typename } }",
        {"b": "lots"},
    ),
    (
        'mutation($b: BigInt) { createDeviceGroup(input: {name: "g", storageCapBytes: $b}) '
        "{ __typename } }",
        {"b": 2**63},
    ),
    (
        'mutation { createDeviceGroup(input: {name: "g", storageCapBytes: "lots"}) '
        "{ __typename } }",
        {},
    ),
    (
        'mutation { createDeviceGroup(input: {name: "g", storageCapBytes: "--5"}) { __typename } }',
        {},
    ),
    (
        'mutation { createDeviceGroup(input: {name: "g", storageCapBytes: 9223372036854775808}) '
        "{ __typename } }",
        {},
    ),
    (
        f'mutation {{ requestContentUpload(contentId: "{ZERO_ID}", mime: "image/png", '
        'bytes: 99999999999999999999999, sha256: "00") { __typename } }',
        {},
    ),
    # UUID
    ("query($id: UUID!) { store(id: $id) { id } }", {"id": "not-a-uuid"}),
    ('query { store(id: "not-a-uuid") { id } }', {}),
    # Date
    ("query($d: Date) { campaigns(filter: {activeOn: $d}) { totalCount } }", {"d": "2026-13-01"}),
    ('query { campaigns(filter: {activeOn: "tomorrow"}) { totalCount } }', {}),
    # DateTime
    (
        "query($at: DateTime!) { explainPlan(deviceId: " + f'"{ZERO_ID}"' + ", at: $at) "
        "{ __typename } }",
        {"at": "noon"},
    ),
    ('query { incidents(filter: {createdFrom: "2026-02-30T00:00:00Z"}) { totalCount } }', {}),
    # Int beyond 32 bits
    ("query($n: Int) { stores(first: $n) { totalCount } }", {"n": 2**40}),
    ("query { deviceClaims(limit: 99999999999) { claimCode } }", {}),
]


async def test_values_that_do_not_parse_as_their_scalar_are_validation_errors(api: Api) -> None:
    for query, variables in COERCION_CASES:
        body = await api.post(query, variables)
        assert body.get("data") is None, (query, body)
        assert error_codes(body) == ["VALIDATION_ERROR"], (query, body)
        assert "path" not in body["errors"][0], "refused before any resolver ran"


async def test_date_times_and_dates_near_years_1_and_9999_are_refused(api: Api) -> None:
    device = str(await insert_device(api.services))
    group = str(await insert_group(api.services))
    playlist = str(await insert_playlist(api.services))
    explain = (
        "query($at: DateTime!, $d: UUID!) { explainPlan(deviceId: $d, at: $at) { __typename } }"
    )
    preview = (
        "query($from: DateTime!, $to: DateTime!, $d: UUID!) "
        "{ planPreview(deviceId: $d, from: $from, to: $to) { __typename } }"
    )
    queries: list[tuple[str, dict[str, Any], str, str]] = [
        (explain, {"d": device, "at": "9999-12-31T23:59:59Z"}, "at", "OUT_OF_RANGE"),
        (explain, {"d": device, "at": "0001-01-01T00:00:00+05:00"}, "at", "OUT_OF_RANGE"),
        (explain, {"d": device, "at": "2026-03-02T10:00:00"}, "at", "INVALID_FORMAT"),
        (
            preview,
            {"d": device, "from": "9999-12-30T00:00:00Z", "to": "9999-12-31T00:00:00Z"},
            "from",
            "OUT_OF_RANGE",
        ),
        (
            preview,
            {"d": device, "from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z"},
            "from",
            "OUT_OF_RANGE",
        ),
        (
            "query($t: DateTime) { incidents(filter: {createdTo: $t}) { totalCount } }",
            {"t": "9999-12-31T23:59:59-05:00"},
            "filter.createdTo",
            "OUT_OF_RANGE",
        ),
        (
            "query($t: DateTime) { incidents(filter: {createdFrom: $t}) { totalCount } }",
            {"t": "0001-01-01T00:00:00-05:00"},
            "filter.createdFrom",
            "OUT_OF_RANGE",
        ),
        (
            "query($t: DateTime) { auditLog(filter: {since: $t}) { totalCount } }",
            {"t": "0001-01-01T00:00:00+05:00"},
            "filter.since",
            "OUT_OF_RANGE",
        ),
        (
            "query($d: Date) { proofOfPlayReport(filter: {from: $d}) { __typename } }",
            {"d": "0001-01-01"},
            "filter.from",
            "OUT_OF_RANGE",
        ),
        (
            "query($d: Date) { campaigns(filter: {activeOn: $d}) { totalCount } }",
            {"d": "9999-12-31"},
            "filter.activeOn",
            "OUT_OF_RANGE",
        ),
    ]
    for query, variables, field, code in queries:
        error = top_level(await api.post(query, variables))
        assert (error["extensions"]["code"], error["extensions"]["field"]) == (code, field), (
            variables,
            error,
        )

    # Mutations storing dates: the typed error, and nothing stored that a later plan or
    # report would have to compute with.
    campaign = typed_error(
        await api.post(
            'mutation { createCampaign(input: {brandName: "b", name: "n", '
            f'startDate: "9999-06-01", endDate: "9999-12-31"}}) {{ {ERROR_FIELDS} }} }}'
        ),
        "createCampaign",
    )
    assert campaign["errors"] == [{"field": "endDate", "code": "OUT_OF_RANGE"}]
    schedule = typed_error(
        await api.post(
            "mutation($g: UUID!, $p: UUID!) { createSchedule(input: {targetType: GROUP, "
            'targetId: $g, playlistId: $p, validTo: "9999-12-31", rules: {dateRanges: '
            '[{start: "2026-01-01", end: "2026-02-01"}, '
            '{start: "0001-01-01", end: "0001-01-05"}]}}) '
            f"{{ {ERROR_FIELDS} }} }}",
            {"g": group, "p": playlist},
        ),
        "createSchedule",
    )
    assert schedule["errors"] == [
        {"field": "rules.dateRanges[1].start", "code": "OUT_OF_RANGE"},
        {"field": "validTo", "code": "OUT_OF_RANGE"},
    ]
    # The CSV export of the same report applies the same rule (422, JSON body).
    response = await api.client.get(
        "/v1/admin/reports/proof-of-play.csv",
        params={"from": "2026-01-01", "to": "9999-12-31"},
        headers=bearer(api.token),
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["errors"][0]["code"] == "date_out_of_range"


async def test_the_extremes_that_are_accepted_compute_without_overflow(api: Api) -> None:
    """The last accepted instants and dates, in the timezones furthest from UTC, with a
    schedule running to the last accepted day: plans, previews, reports all answer."""
    store = await insert_store(api.services, timezone="Pacific/Kiritimati")
    group = await insert_group(api.services)
    device = str(await insert_device(api.services, store_id=store, group_id=group))
    playlist = str(await insert_playlist(api.services))
    created = await api.post(
        "mutation($g: UUID!, $p: UUID!) { createSchedule(input: {targetType: GROUP, "
        'targetId: $g, playlistId: $p, validFrom: "0001-01-03", validTo: "9999-12-29", '
        'rules: {dateRanges: [{start: "0001-01-03", end: "0001-01-10"}, '
        '{start: "9999-12-20", end: "9999-12-29"}], dayparts: [{weekdays: [1, 2, 3, 4, 5, 6, 7], '
        'start: "22:00", end: "02:00"}]}}) { __typename }}',
        {"g": str(group), "p": playlist},
    )
    assert created["data"]["createSchedule"]["__typename"] == "ScheduleSuccess", created
    ok: list[tuple[str, dict[str, Any]]] = [
        (
            "query($at: DateTime!, $d: UUID!) "
            "{ explainPlan(deviceId: $d, at: $at) { __typename } }",
            {"d": device, "at": at},
        )
        for at in (
            "9999-12-29T00:00:00Z",
            "9999-12-28T10:00:00-14:00",
            "0001-01-03T00:00:00Z",
            "0001-01-03T14:00:00+14:00",
        )
    ]
    ok += [
        (
            "query($f: DateTime!, $t: DateTime!, $g: UUID!, $tz: String) { planPreview("
            "groupId: $g, from: $f, to: $t, timezone: $tz) "
            "{ timezone plan { validFrom validTo } } }",
            {"g": str(group), "f": start, "t": end, "tz": tz},
        )
        for start, end, tz in (
            ("9999-11-29T00:00:00Z", "9999-12-29T00:00:00Z", "Pacific/Kiritimati"),
            ("0001-01-03T00:00:00Z", "0001-02-02T00:00:00Z", "Etc/GMT+12"),
        )
    ]
    ok += [
        (
            "query($f: DateTime!, $t: DateTime!, $d: UUID!) { planPreview(deviceId: $d, "
            "from: $f, to: $t) { timezone } }",
            {"d": device, "f": "0001-01-03T00:00:00Z", "t": "0001-01-20T00:00:00Z"},
        ),
        (
            'query { incidents(filter: {createdFrom: "0001-01-03T00:00:00Z", '
            'createdTo: "9999-12-29T00:00:00Z"}) { totalCount } }',
            {},
        ),
        (
            'query { proofOfPlayReport(filter: {from: "0001-01-03", to: "9999-12-29"}, '
            "groupBy: [DAY]) { __typename } }",
            {},
        ),
    ]
    for query, variables in ok:
        body = await api.post(query, variables)
        assert not body.get("errors"), (variables, body)
    # The plan boundaries of year 1 are ISO 8601 (four-digit years), as a player parses them.
    early = await api.post(ok[5][0], ok[5][1])
    plan = early["data"]["planPreview"][0]["plan"]
    assert plan == {
        "validFrom": "0001-01-03T00:00:00+00:00",
        "validTo": "0001-02-02T00:00:00+00:00",
    }


def test_every_query_and_mutation_with_arguments_checks_them() -> None:
    """The rule is attached by the schema builder, so a field added later is covered too."""
    schema = build_schema(production=True)
    checked = 0
    for root in (schema.query, schema.mutation):
        definition = root.__strawberry_definition__  # type: ignore[union-attr]
        for field in definition.fields:
            if field.arguments:
                assert [type(e) for e in field.extensions].count(StorableInput) == 1, field.name
                checked += 1
    assert checked > 40
