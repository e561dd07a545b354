"""Every edge field, fed the extremes of its documented type, gets a 2xx or a JSON 4xx.

The routes and their fields come from the edge's own OpenAPI document, so a new route or
field is covered without touching this file. For each route with a body, hypothesis keeps a
minimal valid body and gives ONE field at a time an extreme value of its documented type:
strings with NUL, lone surrogates, control characters, empty or far too long; integers at
and past the 32- and 64-bit limits, huge literals (`1e400`, 400 digits), `-0`, floats where
integers are expected, NaN; date-times at years 1 and 9999 with ±23:59 offsets; objects
nested deeper than any parser should recurse, or with NUL in a key. Never a 5xx, never the
bad text echoed, and every 4xx is the one JSON error shape.

Bodies that are hostile as a whole (100,000 nested arrays, invalid UTF-8, a lone number) go
to every route, including those that take no body and those that need no token.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.inputs import NUL_CHARACTER, UNPAIRED_SURROGATE, json_problems
from device_edge.app import edge_routes
from device_edge.openapi import build_openapi
from tests.device_edge.conftest import Paired, error_of

DOCUMENT = build_openapi(edge_routes())
SCHEMAS: dict[str, Any] = DOCUMENT["components"]["schemas"]
EXAMPLES_PER_ROUTE = 40
UNSTORABLE_TEXT = {NUL_CHARACTER, UNPAIRED_SURROGATE}


class Raw:
    """A JSON literal written as is (json.dumps cannot write 1e400 or -0.0 or NaN)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"Raw({self.text[:40]!r})"


def encode(body: Any) -> bytes:
    raws: dict[str, str] = {}

    def swap(value: Any) -> Any:
        if isinstance(value, Raw):
            token = f"raw-{uuid.uuid4().hex}"
            raws[token] = value.text
            return token
        if isinstance(value, dict):
            return {key: swap(item) for key, item in value.items()}
        if isinstance(value, list):
            return [swap(item) for item in value]
        return value

    text = json.dumps(swap(body))  # ASCII: NUL and lone surrogates become \u escapes
    for token, literal in raws.items():
        text = text.replace(f'"{token}"', literal)
    return text.encode()


# --- the documented fields ------------------------------------------------------------------


def resolve(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: $ref followed, `X | None` reduced to X."""
    if "$ref" in schema:
        return resolve(SCHEMAS[schema["$ref"].rsplit("/", 1)[-1]])
    options = [option for option in schema.get("anyOf", ()) if option.get("type") != "null"]
    if len(options) == 1:
        return resolve(options[0])
    return schema


def kind(schema: dict[str, Any]) -> str:
    schema = resolve(schema)
    if schema.get("format") in ("uuid", "date-time"):
        return str(schema["format"])
    return str(schema.get("type", "any"))


def minimal(schema: dict[str, Any]) -> Any:
    """A small valid value of the documented type (required fields only)."""
    schema = resolve(schema)
    if "enum" in schema:
        return schema["enum"][0]
    match kind(schema):
        case "object":
            properties = schema.get("properties", {})
            return {name: minimal(properties[name]) for name in schema.get("required", ())}
        case "array":
            return [minimal(schema.get("items", {}))]
        case "integer":
            return max(int(schema.get("minimum", 1)), 1)
        case "uuid":
            return str(uuid.uuid4())
        case "date-time":
            return "2026-03-02T09:59:00Z"
        case "string":
            return "BCDFGHJK"[: schema.get("maxLength", 8)]
        case _:
            return None


Path = tuple[str | int, ...]


def fields(schema: dict[str, Any], path: Path = ()) -> Iterator[tuple[Path, str]]:
    """Every (path, kind) in the document, optional ones included; arrays through item 0."""
    schema = resolve(schema)
    for name, child in schema.get("properties", {}).items():
        child_path = (*path, name)
        yield child_path, kind(child)
        if kind(child) == "object":
            yield from fields(child, child_path)
        elif kind(child) == "array":
            item = resolve(child).get("items", {})
            yield (*child_path, 0), kind(item)
            yield from fields(item, (*child_path, 0))


def with_value(schema: dict[str, Any], path: Path, value: Any) -> Any:
    """A minimal body of `schema` whose field at `path` is `value` (parents filled in)."""
    schema = resolve(schema)
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(head, int):
        return [with_value(schema.get("items", {}), rest, value)]
    body = minimal(schema)
    body[head] = with_value(schema["properties"][head], rest, value)
    return body


# --- extreme values per documented type -----------------------------------------------------


def nested(depth: int, leaf: Any = 1) -> Raw:
    return Raw('{"a":' * depth + json.dumps(leaf) + "}" * depth)


WRONG_TYPES = [None, True, [], {}, "", Raw("NaN"), Raw("-Infinity"), Raw("1e400")]
TEXT = [
    "",
    "\x00",
    "code\x00",
    "\ud800",
    "\udfff",
    "x\udbff",
    "\ud83d\ude00",  # a proper pair: storable
    "\x01\x1f\x7f\u2028\ufeff",
    "\\u0000",  # the six characters, not a NUL
    "\U0010ffff" * 10,
    "é" * 3000,
    "x" * 70_000,
]
INTEGERS = [
    Raw("-0"),
    Raw("-0.0"),
    Raw("1.0"),
    Raw("0.5"),
    Raw("1e308"),
    Raw("-1e400"),
    Raw(str(10**400)),
    Raw("-" + str(10**400)),
    "1",
    *(
        bound + delta
        for bound in (0, 2**31, 2**53, 2**63, 2**64, -(2**31), -(2**63))
        for delta in (-1, 0, 1)
    ),
]
INSTANTS = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+23:59",
    "0001-01-01T00:00:00-23:59",
    "0001-01-02T23:59:59+23:59",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59+23:59",
    "9999-12-30T00:00:00-23:59",
    "2026-03-02T10:00:00",  # no offset
    "2026-03-02T10:00:00+24:00",
    "2026-02-30T10:00:00Z",
    "+10000-01-01T00:00:00Z",
    "2026-03-02T10:00:00\x00Z",
]
UUIDS = [
    "00000000-0000-0000-0000-000000000000",
    "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
    f"urn:uuid:{uuid.uuid4()}",
    f"{uuid.uuid4()}\x00",
    str(uuid.uuid4()).replace("-", ""),
]
OBJECTS = [
    nested(31),
    nested(33),
    nested(64, "\x00"),
    nested(250),
    nested(5_000),
    Raw("[" * 100_000 + "]" * 100_000),
    {"\x00": 1},
    {"k\ud800": "v"},
    {"k": "\x00"},
    {"n": Raw(str(10**30))},
    {"f": Raw("1e400")},
    {"": {"": [[[[[[]]]]]]}},
]
ARRAYS = [[], [None], [[]] * 3, Raw("[" * 300 + "]" * 300), [{"\x00": "\x00"}]]

any_offset = st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m)))
# Hypothesis takes naive bounds; each instant gets its offset below.
generated_instants = st.datetimes(
    min_value=datetime(1, 1, 1),  # noqa: DTZ001
    max_value=datetime(9999, 12, 31, 23, 59, 59),  # noqa: DTZ001
).flatmap(lambda moment: any_offset.map(lambda tz: moment.replace(tzinfo=tz).isoformat()))
generated_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)

EXTREMES: dict[str, st.SearchStrategy[Any]] = {
    "string": st.sampled_from(TEXT) | generated_text,
    "uuid": st.sampled_from(TEXT + UUIDS),
    "integer": st.sampled_from(INTEGERS) | st.integers(-(2**70), 2**70),
    "date-time": st.sampled_from(INSTANTS + TEXT[:6]) | generated_instants,
    "object": st.sampled_from(OBJECTS),
    "array": st.sampled_from(ARRAYS),
}


def extremes(field_kind: str) -> st.SearchStrategy[Any]:
    return EXTREMES.get(field_kind, st.nothing()) | st.sampled_from(WRONG_TYPES)


def body_routes() -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in DOCUMENT["paths"].items():
        post = methods.get("post")
        if post is not None and "requestBody" in post:
            yield path, post


BODY_ROUTES = dict(body_routes())


def request_schema(path: str) -> dict[str, Any]:
    schema: dict[str, Any] = BODY_ROUTES[path]["requestBody"]["content"]["application/json"][
        "schema"
    ]
    return schema


def authenticated(operation: dict[str, Any]) -> bool:
    return bool(operation.get("security"))


# --- checks ---------------------------------------------------------------------------------


def check_answer(response: httpx.Response, context: object) -> None:
    """Never a 5xx; every 4xx in the one JSON error shape; bad text never sent back."""
    assert response.status_code < 500, (context, response.status_code, response.text[:500])
    answer = json.loads(response.content) if response.content else None  # lone surrogates too
    echoed = [problem for problem in json_problems(answer) if problem[1] in UNSTORABLE_TEXT]
    assert not echoed, (context, echoed, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), context
        error = error_of(response)
        if error["code"] == "validation_error":
            entries = error["details"]["errors"]
            assert entries, context
            for entry in entries:
                assert set(entry) == {"field", "code", "message"}, (context, entry)


ADDRESSES = (f"198.51.{i // 250}.{i % 250 + 1}" for i in itertools.count())


@pytest.fixture
def sender(
    edge_client: httpx.AsyncClient,
    client_at: Callable[[str], httpx.AsyncClient],
    paired: Paired,
) -> Callable[[str, bytes], Any]:
    """POST a raw JSON body: with the device token where the route wants one, else from a
    fresh address each time (so per-address rate limits leave the validation in view)."""

    async def send(path: str, body: bytes) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if authenticated(BODY_ROUTES[path]):
            return await edge_client.post(path, content=body, headers={**headers, **paired.auth})
        return await client_at(next(ADDRESSES)).post(path, content=body, headers=headers)

    return send


def test_the_document_lists_the_body_routes() -> None:
    """The enumeration below is not vacuous."""
    assert {
        "/v1/device/heartbeat",
        "/v1/device/pairing/create-claim",
        "/v1/device/pairing/claim",
        "/v1/device/token/refresh",
    } <= set(BODY_ROUTES)


@pytest.mark.parametrize("path", sorted(BODY_ROUTES))
@settings(
    max_examples=EXAMPLES_PER_ROUTE,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_one_extreme_field_at_a_time(
    path: str, sender: Callable[[str, bytes], Any], data: st.DataObject
) -> None:
    schema = request_schema(path)
    field_path, field_kind = data.draw(st.sampled_from(list(fields(schema))), label="field")
    value = data.draw(extremes(field_kind), label="value")
    body = encode(with_value(schema, field_path, value))
    response = await sender(path, body)
    check_answer(response, (path, field_path, value))


@pytest.mark.parametrize("path", sorted(BODY_ROUTES))
async def test_every_documented_field_takes_its_named_extremes(
    path: str, sender: Callable[[str, bytes], Any]
) -> None:
    """The hand-picked extremes of each field, all of them, not a sample: NUL and lone
    surrogates in any string, 2**63 and 2**64 in any integer, overflowing offsets."""
    schema = request_schema(path)
    named = {
        "string": ["\x00", "\ud800", ""],
        "uuid": ["\x00"],
        "integer": [2**63, 2**64, -(2**63) - 1, Raw(str(10**400)), Raw("1e400")],
        "date-time": INSTANTS[1:8],
        "object": [{"\x00": 1}, nested(40, "\x00")],
        "array": [[{"\x00": 1}]],
    }
    for field_path, field_kind in fields(schema):
        for value in named.get(field_kind, []):
            response = await sender(path, encode(with_value(schema, field_path, value)))
            check_answer(response, (path, field_path, value))


# --- hostile bodies against every route ------------------------------------------------------

HOSTILE_BODIES = {
    "100k nested arrays": b"[" * 100_000 + b"]" * 100_000,
    "5k nested arrays": b"[" * 5_000 + b"]" * 5_000,
    "5k nested objects": b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
    "invalid utf-8": b'{"a": "\xff\xfe"}',
    "utf-8 encoded surrogate": b'{"a": "\xed\xa0\x80"}',
    "nul key": b'{"\\u0000": 1}',
    "lone surrogate": b'"\\ud800"',
    "huge float": b"1e400",
    "huge integer": str(10**400).encode(),
    "negative zero": b"-0",
    "nan": b"NaN",
    "raw nul": b'{"a": "\x00"}',
    "bom": b'\xef\xbb\xbf{"a": 1}',
}


def every_route() -> Iterator[tuple[str, str, bool]]:
    for path, methods in DOCUMENT["paths"].items():
        for method, operation in methods.items():
            yield method.upper(), path, authenticated(operation)


@pytest.mark.parametrize(("method", "path", "needs_token"), sorted(every_route()))
async def test_hostile_bodies_on_every_route(
    edge_client: httpx.AsyncClient,
    client_at: Callable[[str], httpx.AsyncClient],
    paired: Paired,
    method: str,
    path: str,
    needs_token: bool,
) -> None:
    for name, body in HOSTILE_BODIES.items():
        for with_token in {needs_token, False}:
            client = edge_client if with_token else client_at(next(ADDRESSES))
            headers = {"content-type": "application/json"}
            if with_token:
                headers.update(paired.auth)
            response = await client.request(method, path, content=body, headers=headers)
            check_answer(response, (method, path, name, with_token))
            if method == "POST" and response.status_code == 400:
                assert error_of(response)["code"] == "malformed_json", (path, name)


async def test_deep_nesting_in_a_body_is_a_json_400(
    edge_client: httpx.AsyncClient, paired: Paired
) -> None:
    """Nesting within the size limit is refused by the parser as malformed JSON (400), with
    the JSON error body, on the token-less route as on the heartbeat."""
    for path, headers in (
        ("/v1/device/pairing/create-claim", {}),
        ("/v1/device/heartbeat", paired.auth),
    ):
        body = b'{"device_info":' + b"[" * 5_000 + b"]" * 5_000 + b"}"
        response = await edge_client.post(
            path, content=body, headers={"content-type": "application/json", **headers}
        )
        assert response.status_code == 400, response.text
        assert error_of(response)["code"] == "malformed_json"
