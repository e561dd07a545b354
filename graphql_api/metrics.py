"""GraphQL operation metrics: operations by type, name and outcome, their latency, and the
error codes they answered with (typed error results and top-level errors alike).

The operation name is chosen by the client, so it is a label only while it looks like a
name and only for the first `MAX_OPERATION_NAMES` distinct names a process sees; anything
else is `other` (`anonymous` when there is none), so a client cannot grow the series
without bound.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextvars import ContextVar

from prometheus_client import Counter, Histogram
from strawberry.extensions import SchemaExtension

OPERATIONS = Counter(
    "signage_graphql_operations",
    "GraphQL operations executed, by type, name and outcome (error: any error in the answer).",
    ["type", "name", "outcome"],
)
DURATION = Histogram(
    "signage_graphql_operation_duration_seconds",
    "Time to parse, validate and execute a GraphQL operation.",
    ["type", "name"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
ERRORS = Counter(
    "signage_graphql_errors",
    "Errors in GraphQL answers (typed error results and top-level errors), by ErrorCode.",
    ["type", "name", "code"],
)

MAX_OPERATION_NAMES = 200
_NAME = re.compile(r"[_A-Za-z][_0-9A-Za-z]{0,63}")
_names: set[str] = set()
# The typed error results of the operation running in this context (`count_typed_error`).
_typed_errors: ContextVar[list[str] | None] = ContextVar("graphql_typed_errors", default=None)


def operation_label(name: str | None) -> str:
    if not name:
        return "anonymous"
    if name in _names:
        return name
    if len(_names) >= MAX_OPERATION_NAMES or not _NAME.fullmatch(name):
        return "other"
    _names.add(name)
    return name


def count_typed_error(code: str) -> None:
    """A resolver answered with a typed error result (`graphql_api.errors.to_error_result`)."""
    errors = _typed_errors.get()
    if errors is not None:
        errors.append(code)


class OperationMetrics(SchemaExtension):
    """First in the schema's extension list, so it exits last: it sees the final answer,
    error codes already set by `DomainErrorCodes`."""

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        typed: list[str] = []
        token = _typed_errors.set(typed)
        try:
            yield
        finally:
            _typed_errors.reset(token)
            self._record(time.perf_counter() - started, typed)

    def _record(self, seconds: float, typed: list[str]) -> None:
        context = self.execution_context
        try:
            kind = context.operation_type.value
        except Exception:  # no document could be parsed: no type to tell
            kind = "unknown"
        name = operation_label(context.operation_name)
        errors = getattr(context.result, "errors", None) or []
        codes = [*typed]
        for error in errors:
            code = (error.extensions or {}).get("code")
            codes.append(code if isinstance(code, str) else "none")
        OPERATIONS.labels(kind, name, "error" if codes else "ok").inc()
        if kind != "subscription":  # a subscription lasts as long as its client wants
            DURATION.labels(kind, name).observe(seconds)
        for code in codes:
            ERRORS.labels(kind, name, code).inc()
