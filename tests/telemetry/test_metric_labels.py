"""Metric labels stay bounded whatever clients send (docs/metrics.md): HTTP routes are
templates or `unmatched`, methods the standard ones or `other`, error codes short words read
from our own error bodies (at most MAX_ERROR_CODES of them), GraphQL operation names names or
`other`/`anonymous`. Checked on the label functions themselves and through the real apps.

Metrics live in prometheus-client's global registry and accumulate over a test process:
every assertion is on a delta.
"""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

import graphql_api.metrics as gql_metrics
from core.bootstrap import Services
from core.db.enums import Role
from device_edge.routes import plan
from telemetry.http import MAX_ERROR_CODES, HttpMetrics, error_code
from tests.device_edge.conftest import HEARTBEAT, create_placement, error_of, pair
from tests.graphql_api.helpers import create_user_and_token, gql, mint_device_token
from tests.plans.builders import make_world

HTTP_FAMILIES = ("signage_http_requests", "signage_http_request_duration_seconds")
_CODE_SHAPE = r"[A-Za-z][A-Za-z0-9_]{0,47}"


def value(metric: str, /, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def label_values(*families: str) -> set[str]:
    """Every label value of every sample of these metric families, now."""
    found: set[str] = set()
    for family in REGISTRY.collect():
        if family.name in families:
            for sample in family.samples:
                found.update(sample.labels.values())
    return found


# --- telemetry.http.error_code ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"error": {"code": "missing_token", "message": "no"}}', "missing_token"),
        (b'{"error": {"code": "validation_error", "details": []}}', "validation_error"),
        (b'{"errors": [{"message": "x", "extensions": {"code": "NOT_FOUND"}}]}', "NOT_FOUND"),
        # only the first GraphQL error's code counts
        (
            b'{"errors": [{"extensions": {"code": "FORBIDDEN"}}, {"extensions": {"code": "X"}}]}',
            "FORBIDDEN",
        ),
        (b'{"error": {"code": "' + b"a" * 48 + b'"}}', "a" * 48),
    ],
)
def test_error_code_reads_our_envelopes(body: bytes, code: str) -> None:
    assert error_code(body) == code


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe\x00junk",
        b"not json at all",
        b"<html>502 Bad Gateway</html>",
        b"[1, 2, 3]",
        b'"just a string"',
        b"null",
        b"{}",
        b'{"error": "missing_token"}',
        b'{"error": {"message": "no code"}}',
        b'{"error": {"code": 401}}',
        b'{"error": {"code": null}}',
        b'{"error": {"code": ["a"]}}',
        b'{"error": {"code": ""}}',
        b'{"error": {"code": "has space"}}',
        b'{"error": {"code": "dash-ed"}}',
        b'{"error": {"code": "1starts_with_digit"}}',
        b'{"error": {"code": "_underscore_first"}}',
        b'{"error": {"code": "trailing\\n"}}',
        b'{"error": {"code": "caf\xc3\xa9"}}',
        b'{"error": {"code": "' + b"a" * 49 + b'"}}',
        b'{"error": {"code": "' + b"x" * 100_000 + b'"}}',
        b'{"errors": []}',
        b'{"errors": ["NOT_FOUND"]}',
        b'{"errors": [{"message": "no extensions"}]}',
        b'{"errors": [{"extensions": "NOT_FOUND"}]}',
        b'{"errors": [{"extensions": {"code": "/v1/device/abc"}}]}',
        b'{"errors": {"extensions": {"code": "NOT_FOUND"}}}',
        b"[" * 5000,  # deeper than the parser goes
        b'{"error": {"code": "cut_off_by_the_8_KiB_limit',  # truncated body
    ],
)
def test_error_code_is_none_for_anything_else(body: bytes) -> None:
    assert error_code(body) == "none"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=512),
        st.recursive(
            st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=60),
            lambda inner: (
                st.lists(inner, max_size=4)
                | st.dictionaries(
                    st.sampled_from(["error", "errors", "code", "extensions", "message"]),
                    inner,
                    max_size=4,
                )
            ),
            max_leaves=12,
        ).map(orjson.dumps),
    )
)
def test_error_code_never_raises_and_returns_a_short_word(body: bytes) -> None:
    code = error_code(body)
    assert code == "none" or re.fullmatch(_CODE_SHAPE, code), code


# --- telemetry.http.HttpMetrics ----------------------------------------------------------------


def fresh_metrics() -> HttpMetrics:
    return HttpMetrics(f"test-{uuid.uuid4().hex[:10]}")


@pytest.mark.parametrize("method", ["BREW", "get", "PROPFIND", "CONNECT", "TRACE", "X" * 300])
def test_observe_maps_unknown_methods_to_other(method: str) -> None:
    metrics = fresh_metrics()
    metrics.observe("/v1/device/plan", method, 405, 0.002)
    metrics.observe("/v1/device/plan", method, 405, 0.003)
    labels = {"app": metrics.app, "route": "/v1/device/plan", "method": "other"}
    assert value("signage_http_requests_total", **labels, status="405") == 2
    assert value("signage_http_request_duration_seconds_count", **labels) == 2
    assert value("signage_http_request_duration_seconds_sum", **labels) == pytest.approx(0.005)
    assert method not in label_values(*HTTP_FAMILIES)


@pytest.mark.parametrize("method", sorted(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]))
def test_observe_keeps_standard_methods(method: str) -> None:
    metrics = fresh_metrics()
    metrics.observe("/healthz", method, 200, 0.001)
    labels = {"app": metrics.app, "route": "/healthz", "method": method, "status": "200"}
    assert value("signage_http_requests_total", **labels) == 1


def test_observe_cache_stays_bounded_under_random_methods() -> None:
    metrics = fresh_metrics()
    for index in range(500):
        metrics.observe("/healthz", f"M{index}", 405, 0.001)
    assert value(
        "signage_http_requests_total",
        app=metrics.app,
        route="/healthz",
        method="other",
        status="405",
    ) == pytest.approx(500)
    assert len(metrics._children) <= 1


def test_error_caps_distinct_codes_then_counts_other() -> None:
    metrics = fresh_metrics()
    codes = [f"code_{index}" for index in range(MAX_ERROR_CODES)]
    for code in codes:
        metrics.error("/v1/device/plan", 400, code)
    base = {"app": metrics.app, "route": "/v1/device/plan", "status": "400"}
    assert all(value("signage_http_errors_total", **base, code=code) == 1 for code in codes)
    assert value("signage_http_errors_total", **base, code="other") == 0

    metrics.error("/v1/device/plan", 400, "one_code_too_many")
    metrics.error("/v1/device/plan", 400, "and_another")
    assert value("signage_http_errors_total", **base, code="other") == 2
    assert "one_code_too_many" not in label_values("signage_http_errors")
    assert "and_another" not in label_values("signage_http_errors")
    # codes seen before the cap keep their own series
    metrics.error("/v1/device/plan", 400, codes[7])
    assert value("signage_http_errors_total", **base, code=codes[7]) == 2
    assert value("signage_http_errors_total", **base, code="other") == 2


# --- through the real edge app ---------------------------------------------------------------


async def test_an_unknown_path_counts_as_unmatched(edge_client: httpx.AsyncClient) -> None:
    raw = f"/v1/device/nothing-{uuid.uuid4().hex}"
    labels = {"app": "edge", "route": "unmatched", "method": "GET"}
    before = value("signage_http_requests_total", **labels, status="404")
    errors = {"app": "edge", "route": "unmatched", "status": "404", "code": "not_found"}
    before_errors = value("signage_http_errors_total", **errors)
    response = await edge_client.get(raw)
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert value("signage_http_requests_total", **labels, status="404") - before == 1
    assert value("signage_http_errors_total", **errors) - before_errors == 1
    assert raw not in label_values(*HTTP_FAMILIES, "signage_http_errors")


async def test_a_heartbeat_counts_under_its_route_template(
    edge_client: httpx.AsyncClient, services: Services
) -> None:
    device = await pair(edge_client, services, await create_placement(services))
    labels = {"app": "edge", "route": "/v1/device/heartbeat", "method": "POST"}
    before = value("signage_http_requests_total", **labels, status="200")
    before_count = value("signage_http_request_duration_seconds_count", **labels)
    response = await edge_client.post("/v1/device/heartbeat", json=HEARTBEAT, headers=device.auth)
    assert response.status_code == 200, response.text
    assert value("signage_http_requests_total", **labels, status="200") - before == 1
    assert value("signage_http_request_duration_seconds_count", **labels) - before_count == 1
    assert str(device.device_id) not in str(label_values(*HTTP_FAMILIES))


async def test_a_304_plan_poll_on_the_fast_path_is_counted_once(
    edge_client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = await make_world(services, 1)
    [device] = world.device_ids
    auth = {"Authorization": f"Bearer {mint_device_token(services, device)}"}
    full = await edge_client.get(plan.PATH, headers=auth)  # caches the ETag for the fast path
    assert full.status_code == 200, full.text

    fast_path_answers: list[bool] = []
    real = plan.answered_not_modified

    async def spy(*args: Any, **kwargs: Any) -> bool:
        answered = await real(*args, **kwargs)
        fast_path_answers.append(answered)
        return answered

    monkeypatch.setattr(plan, "answered_not_modified", spy)
    labels = {"app": "edge", "route": plan.PATH, "method": "GET"}
    before = value("signage_http_requests_total", **labels, status="304")
    before_count = value("signage_http_request_duration_seconds_count", **labels)
    before_polls = value("signage_plan_polls_total", result="not_modified")
    before_sent = value("signage_plan_polls_total", result="sent")

    same = await edge_client.get(plan.PATH, headers={**auth, "If-None-Match": full.headers["etag"]})
    assert same.status_code == 304
    assert fast_path_answers == [True]  # the shortcut answered, not the full stack
    assert value("signage_http_requests_total", **labels, status="304") - before == 1
    assert value("signage_http_request_duration_seconds_count", **labels) - before_count == 1
    assert value("signage_plan_polls_total", result="not_modified") - before_polls == 1
    assert value("signage_plan_polls_total", result="sent") - before_sent == 0


async def test_a_full_stack_304_is_counted_once_too(
    edge_client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the shortcut declines, the full stack answers the 304 and the middleware counts
    it: still exactly once."""
    world = await make_world(services, 1)
    [device] = world.device_ids
    auth = {"Authorization": f"Bearer {mint_device_token(services, device)}"}
    full = await edge_client.get(plan.PATH, headers=auth)
    assert full.status_code == 200, full.text

    async def declined(*args: Any, **kwargs: Any) -> bool:
        return False

    monkeypatch.setattr(plan, "answered_not_modified", declined)
    labels = {"app": "edge", "route": plan.PATH, "method": "GET", "status": "304"}
    before = value("signage_http_requests_total", **labels)
    before_polls = value("signage_plan_polls_total", result="not_modified")
    same = await edge_client.get(plan.PATH, headers={**auth, "If-None-Match": full.headers["etag"]})
    assert same.status_code == 304
    assert value("signage_http_requests_total", **labels) - before == 1
    assert value("signage_plan_polls_total", result="not_modified") - before_polls == 1


async def test_an_unauthenticated_request_counts_its_error_code(
    edge_client: httpx.AsyncClient,
) -> None:
    labels = {"app": "edge", "route": plan.PATH, "status": "401", "code": "missing_token"}
    before = value("signage_http_errors_total", **labels)
    before_requests = value(
        "signage_http_requests_total", app="edge", route=plan.PATH, method="GET", status="401"
    )
    response = await edge_client.get(plan.PATH)
    assert response.status_code == 401
    assert error_of(response)["code"] == "missing_token"
    assert value("signage_http_errors_total", **labels) - before == 1
    assert (
        value(
            "signage_http_requests_total", app="edge", route=plan.PATH, method="GET", status="401"
        )
        - before_requests
        == 1
    )


_rng = random.Random(15)
WEIRD_PATHS = [
    "/v1/device/" + uuid.UUID(int=_rng.getrandbits(128)).hex,
    "/v1/device/" + str(uuid.UUID(int=_rng.getrandbits(128))),
    "/v1/device/plan/" + uuid.UUID(int=_rng.getrandbits(128)).hex,
    "/v1/device/heartbeat/" + str(_rng.getrandbits(64)),
    "/v1/device/events%2F" + str(_rng.getrandbits(32)),
    "/v1/" + "a" * 600,
    "/" + "%E2%98%83" * 3 + str(_rng.getrandbits(16)),
    "/content/" + uuid.UUID(int=_rng.getrandbits(128)).hex + "/9999",
]
WEIRD_METHODS = ["BREW", "PROPFIND", "MKCOL", "X-" + uuid.UUID(int=_rng.getrandbits(128)).hex]


def edge_requests() -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of signage_http_requests_total of the edge, by its labels."""
    found: dict[tuple[tuple[str, str], ...], float] = {}
    for family in REGISTRY.collect():
        if family.name == "signage_http_requests":
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.labels.get("app") == "edge":
                    found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


@pytest.mark.parametrize("path", WEIRD_PATHS)
async def test_weird_paths_never_become_route_labels(
    edge_client: httpx.AsyncClient, path: str
) -> None:
    before = edge_requests()
    response = await edge_client.get(path)
    assert response.status_code >= 400
    after = edge_requests()
    grown = {key: after[key] - before.get(key, 0.0) for key in after}
    [(key, delta)] = [(key, delta) for key, delta in grown.items() if delta]
    assert delta == 1
    route = dict(key)["route"]
    assert route == "unmatched" or "{" in route, route  # a template, never the path itself
    seen = label_values(*HTTP_FAMILIES, "signage_http_errors")
    requested = response.request.url.raw_path.decode()
    assert path not in seen and requested not in seen


@pytest.mark.parametrize("method", WEIRD_METHODS)
@pytest.mark.parametrize("path", ["/healthz", "/v1/device/heartbeat", "/nowhere"])
async def test_weird_methods_never_become_method_labels(
    edge_client: httpx.AsyncClient, method: str, path: str
) -> None:
    before = sum(
        value("signage_http_requests_total", app="edge", route=route, method="other", status=s)
        for route in (path, "unmatched")
        for s in ("404", "405")
    )
    response = await edge_client.request(method, path)
    assert response.status_code in (404, 405)
    after = sum(
        value("signage_http_requests_total", app="edge", route=route, method="other", status=s)
        for route in (path, "unmatched")
        for s in ("404", "405")
    )
    assert after - before == 1
    assert method not in label_values(*HTTP_FAMILIES)


# --- graphql_api.metrics ---------------------------------------------------------------------


@pytest.fixture
def operation_names() -> Iterator[set[str]]:
    """The module's set of names seen, emptied for the test and restored after it."""
    saved = set(gql_metrics._names)
    gql_metrics._names.clear()
    try:
        yield gql_metrics._names
    finally:
        gql_metrics._names.clear()
        gql_metrics._names.update(saved)


@pytest.mark.parametrize("name", [None, ""])
def test_operation_label_without_a_name_is_anonymous(
    operation_names: set[str], name: str | None
) -> None:
    assert gql_metrics.operation_label(name) == "anonymous"
    assert operation_names == set()


@pytest.mark.parametrize(
    "name",
    [
        "1stQuery",
        "my-query",
        "with space",
        "Caf\u00e9",
        "a" * 65,
        "Query\n",
        "/v1/device/plan",
        "__typename}",
        "70d59f71-f1cf-4c68-92bc-e96174c4c1de",
    ],
)
def test_operation_label_of_a_non_name_is_other(operation_names: set[str], name: str) -> None:
    assert gql_metrics.operation_label(name) == "other"
    assert operation_names == set()  # refused names take no room under the cap


def test_operation_label_keeps_names_up_to_the_cap(operation_names: set[str]) -> None:
    assert gql_metrics.operation_label("_private") == "_private"
    assert gql_metrics.operation_label("a" * 64) == "a" * 64
    for index in range(gql_metrics.MAX_OPERATION_NAMES - 2):
        assert gql_metrics.operation_label(f"Op{index}") == f"Op{index}"
    assert len(operation_names) == gql_metrics.MAX_OPERATION_NAMES
    assert gql_metrics.operation_label("OneTooMany") == "other"
    assert "OneTooMany" not in operation_names
    assert gql_metrics.operation_label("Op3") == "Op3"  # seen before the cap: kept
    assert gql_metrics.operation_label(None) == "anonymous"


async def test_a_named_query_counts_ok(
    api_client: httpx.AsyncClient, services: Services, operation_names: set[str]
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    name = "MetricLabelsMe"
    labels = {"type": "query", "name": name}
    before_ok = value("signage_graphql_operations_total", **labels, outcome="ok")
    before_error = value("signage_graphql_operations_total", **labels, outcome="error")
    before_count = value("signage_graphql_operation_duration_seconds_count", **labels)
    body = await gql(api_client, f"query {name} {{ me {{ id }} }}", token=user.token)
    assert not body.get("errors"), body
    assert value("signage_graphql_operations_total", **labels, outcome="ok") - before_ok == 1
    assert value("signage_graphql_operations_total", **labels, outcome="error") - before_error == 0
    assert value("signage_graphql_operation_duration_seconds_count", **labels) == (before_count + 1)


async def test_an_anonymous_query_counts_as_anonymous(
    api_client: httpx.AsyncClient, services: Services, operation_names: set[str]
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    labels = {"type": "query", "name": "anonymous", "outcome": "ok"}
    before = value("signage_graphql_operations_total", **labels)
    body = await gql(api_client, "{ me { id } }", token=user.token)
    assert not body.get("errors"), body
    assert value("signage_graphql_operations_total", **labels) - before == 1


async def test_a_typed_error_result_counts_its_code(
    api_client: httpx.AsyncClient, services: Services, operation_names: set[str]
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    name = "MetricLabelsDeleteMissing"
    labels = {"type": "mutation", "name": name}
    before_errors = value("signage_graphql_errors_total", **labels, code="NOT_FOUND")
    before_outcome = value("signage_graphql_operations_total", **labels, outcome="error")
    body = await gql(
        api_client,
        f"mutation {name}($id: UUID!) {{ deleteSchedule(id: $id)"
        " { __typename ... on Error { code } } }",
        {"id": str(uuid.uuid4())},
        token=user.token,
    )
    assert not body.get("errors"), body
    result = body["data"]["deleteSchedule"]
    assert result == {"__typename": "NotFoundError", "code": "NOT_FOUND"}
    assert value("signage_graphql_errors_total", **labels, code="NOT_FOUND") == (before_errors + 1)
    assert value("signage_graphql_operations_total", **labels, outcome="error") == (
        before_outcome + 1
    )


async def test_a_top_level_error_counts_its_extensions_code(
    api_client: httpx.AsyncClient, services: Services, operation_names: set[str]
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    probe = await gql(api_client, "query MetricLabelsProbe { noSuchField }", token=user.token)
    [error] = probe["errors"]
    code = error["extensions"]["code"]
    assert isinstance(code, str) and code

    name = "MetricLabelsUnknownField"
    labels = {"type": "query", "name": name}
    before = value("signage_graphql_errors_total", **labels, code=code)
    before_error = value("signage_graphql_operations_total", **labels, outcome="error")
    before_ok = value("signage_graphql_operations_total", **labels, outcome="ok")
    body = await gql(api_client, f"query {name} {{ noSuchField }}", token=user.token)
    assert [e["extensions"]["code"] for e in body["errors"]] == [code]
    assert value("signage_graphql_errors_total", **labels, code=code) - before == 1
    assert value("signage_graphql_operations_total", **labels, outcome="error") == (
        before_error + 1
    )
    assert value("signage_graphql_operations_total", **labels, outcome="ok") == before_ok


async def test_an_unauthenticated_query_counts_unauthenticated(
    api_client: httpx.AsyncClient, operation_names: set[str]
) -> None:
    name = "MetricLabelsNoToken"
    labels = {"type": "query", "name": name}
    body = await gql(api_client, f"query {name} {{ me {{ id }} }}")
    codes = [error["extensions"]["code"] for error in body.get("errors") or []]
    assert codes, body
    before = {code: value("signage_graphql_errors_total", **labels, code=code) for code in codes}
    await gql(api_client, f"query {name} {{ me {{ id }} }}")
    for code in set(codes):
        assert value("signage_graphql_errors_total", **labels, code=code) - before[code] == (
            codes.count(code)
        )
