"""Traces (telemetry.tracing): off by default, on by the standard OTEL_* variables, and then
spans from the HTTP apps, SQL, Redis and Dramatiq that carry no secret.

Tracing is configured here with an in-memory exporter and without touching OpenTelemetry's
process-wide provider (`set_global=False`); every test ends with `shutdown_tracing()`, which
removes the instrumentation, so other tests in this process run untraced.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import dramatiq
import httpx
import pytest
import structlog
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from core.bootstrap import Services
from telemetry import tracing
from telemetry.tracing import (
    configure_tracing,
    instrument_engine,
    shutdown_tracing,
    traced_asgi,
    tracing_requested,
)
from telemetry.tracing_dramatiq import TracingMiddleware

SECRET = "s3cr3t-VALUE-4f9a1c77e0"


def _clear_otel_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("OTEL_"):
            monkeypatch.delenv(name)


@pytest.fixture
def spans(monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    _clear_otel_env(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    exporter = InMemorySpanExporter()
    assert configure_tracing("test", exporter=exporter, set_global=False)
    try:
        yield exporter
    finally:
        shutdown_tracing()


def _finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    assert tracing.flush()
    return list(exporter.get_finished_spans())


def _tracer() -> trace.Tracer:
    return trace.get_tracer("tests", tracer_provider=tracing.tracer_provider())


def _strings(span: ReadableSpan) -> list[str]:
    """Every string a span carries: name, attributes, events, status."""
    found = [span.name, span.status.description or ""]
    for attributes in [span.attributes, *(event.attributes for event in span.events)]:
        for key, value in (attributes or {}).items():
            values = value if isinstance(value, tuple) else (value,)
            found.extend(f"{key}={item}" for item in values)
    return found


def _assert_no_secret(spans: list[ReadableSpan], *secrets: str) -> None:
    for span in spans:
        for value in _strings(span):
            for secret in secrets:
                assert secret not in value, (span.name, value)


# --- off by default, on by the environment ---------------------------------------------------


def test_off_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_otel_env(monkeypatch)
    provider_before = trace.get_tracer_provider()
    app = Starlette()

    assert configure_tracing("api") is False
    assert not tracing.tracing_enabled()
    assert tracing.tracer_provider() is None
    assert traced_asgi(app) is app
    assert trace.get_tracer_provider() is provider_before


@pytest.mark.parametrize(
    ("environ", "requested"),
    [
        ({}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, True),
        ({"OTEL_TRACES_EXPORTER": "console"}, True),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, True),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, True),
        ({"OTEL_TRACES_EXPORTER": "none"}, False),
        ({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "true"}, False),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "TRUE"}, False),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_SDK_DISABLED": "false"}, True),
    ],
)
def test_requested_by_the_standard_variables(environ: dict[str, str], requested: bool) -> None:
    assert tracing_requested(environ) is requested


def test_on_by_the_environment_once(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    provider = tracing.tracer_provider()
    assert provider is not None
    assert provider.resource.attributes["service.name"] == "alive-signage-test"
    assert configure_tracing("other", exporter=InMemorySpanExporter(), set_global=False)
    assert tracing.tracer_provider() is provider  # a second call changes nothing


def test_service_name_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_otel_env(monkeypatch)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "signage-eu-api")
    try:
        assert configure_tracing("api", exporter=InMemorySpanExporter(), set_global=False)
        provider = tracing.tracer_provider()
        assert provider is not None
        assert provider.resource.attributes["service.name"] == "signage-eu-api"
    finally:
        shutdown_tracing()


def test_exporters_named_by_the_environment_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    """No exporter passed in: the ones OTEL_TRACES_EXPORTER names (nothing is sent here)."""
    _clear_otel_env(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "console,otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    try:
        assert configure_tracing("api", set_global=False)
    finally:
        shutdown_tracing()
    assert not tracing.tracing_enabled()


def test_asked_for_without_the_extra_warns_once(monkeypatch: pytest.MonkeyPatch) -> None:
    _clear_otel_env(monkeypatch)
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "otlp")
    monkeypatch.setattr(tracing, "_warned_missing", False)
    monkeypatch.setitem(sys.modules, "opentelemetry.sdk.trace", None)  # as if not installed
    with structlog.testing.capture_logs() as logs:
        assert configure_tracing("api") is False
        assert configure_tracing("api") is False
    assert not tracing.tracing_enabled()
    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert len(warnings) == 1
    assert "otel extra" in warnings[0]["event"]


# --- HTTP ------------------------------------------------------------------------------------


async def _item(request: Request) -> PlainTextResponse:
    return PlainTextResponse(f"item {request.path_params['item_id']}")


async def test_http_request_gives_a_server_span_without_credentials(
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Even an operator who asks for the Authorization header gets no value of it.
    monkeypatch.setenv(
        "OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SERVER_REQUEST", "authorization,user-agent"
    )
    app = traced_asgi(Starlette(routes=[Route("/items/{item_id}", _item)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        response = await client.get(
            f"/items/42?page=2&signature={SECRET}-sig",
            headers={"Authorization": f"Bearer {SECRET}-token", "User-Agent": "player/1"},
        )
    assert response.status_code == 200

    finished = _finished(spans)
    [server] = [span for span in finished if span.kind == SpanKind.SERVER]
    assert server.name == "GET /items/{item_id}"
    assert server.attributes is not None
    assert server.attributes["http.route"] == "/items/{item_id}"
    assert server.attributes["http.status_code"] == 200
    assert server.attributes["http.request.header.user_agent"] == ("player/1",)
    assert server.attributes["http.request.header.authorization"] == ("[REDACTED]",)
    assert len(finished) == 1  # no span per ASGI message sent or received
    _assert_no_secret(finished, SECRET)


async def test_unrouted_request_keeps_the_default_name(spans: InMemorySpanExporter) -> None:
    app = traced_asgi(Starlette(routes=[Route("/items/{item_id}", _item)]))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as client:
        assert (await client.get("/nowhere")).status_code == 404
    [server] = _finished(spans)
    assert server.attributes is not None
    assert "http.route" not in server.attributes
    assert server.attributes["http.status_code"] == 404


# --- SQL and Redis ---------------------------------------------------------------------------


async def test_sql_span_records_the_statement_not_its_parameters(
    spans: InMemorySpanExporter, services: Services
) -> None:
    instrument_engine(services.engine)
    instrument_engine(services.engine)  # once per engine, however often asked
    async with services.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # outside any request: background, not traced
        with _tracer().start_as_current_span("request"):
            value = await conn.scalar(text("SELECT CAST(:token AS text)"), {"token": SECRET})
    assert value == SECRET

    finished = _finished(spans)
    sql = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert len(sql) == 1, [span.name for span in finished]
    [request] = [span for span in finished if span.name == "request"]
    assert sql[0].parent is not None
    assert sql[0].parent.span_id == request.context.span_id
    assert sql[0].attributes is not None
    statement = sql[0].attributes["db.statement"]
    assert isinstance(statement, str)
    assert statement.startswith("SELECT CAST($1")
    assert sql[0].attributes["db.system"] == "postgresql"
    _assert_no_secret(finished, SECRET)


async def test_engine_made_after_configuring_is_traced_once(
    spans: InMemorySpanExporter, services: Services
) -> None:
    """The global instrumentation traces engines that sqlalchemy.ext.asyncio makes from now
    on; `instrument_engine` on such an engine adds nothing."""
    import sqlalchemy.ext.asyncio

    url = services.engine.url.render_as_string(hide_password=False)
    engine = sqlalchemy.ext.asyncio.create_async_engine(url)
    try:
        instrument_engine(engine)
        async with engine.connect() as conn:
            with _tracer().start_as_current_span("request"):
                await conn.execute(text("SELECT 2"))
    finally:
        await engine.dispose()
    statements = [span for span in _finished(spans) if span.name.startswith("SELECT")]
    assert len(statements) == 1


async def test_sql_error_message_is_redacted(
    spans: InMemorySpanExporter, services: Services
) -> None:
    """An error's text reaches the span's status: it is held to core.redaction's rule."""
    instrument_engine(services.engine)
    async with services.engine.connect() as conn:
        with _tracer().start_as_current_span("request"), pytest.raises(DBAPIError):
            await conn.execute(text(f"SELECT no_such_column AS \"password='{SECRET}'\""))
    finished = _finished(spans)
    [sql] = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert sql.status.status_code == StatusCode.ERROR
    _assert_no_secret(finished, SECRET)


async def test_redis_command_gives_a_span_without_its_arguments(
    spans: InMemorySpanExporter, services: Services
) -> None:
    key = services.settings.redis_key_prefix + "tracing"
    with _tracer().start_as_current_span("request"):
        await services.redis.set(key, SECRET)
        assert await services.redis.get(key) == SECRET.encode()
    await services.redis.delete(key)  # outside any request: not traced

    finished = _finished(spans)
    commands = [span for span in finished if span.kind == SpanKind.CLIENT]
    assert [span.name for span in commands] == ["SET", "GET"]
    assert all(span.attributes and span.attributes["db.system"] == "redis" for span in commands)
    _assert_no_secret(finished, SECRET)


# --- Dramatiq --------------------------------------------------------------------------------


def _run(broker: StubBroker, queue_name: str) -> None:
    worker = dramatiq.Worker(broker, worker_threads=1, worker_timeout=50)
    worker.start()
    try:
        broker.join(queue_name, timeout=10_000, fail_fast=False)
        worker.join()
    finally:
        worker.stop()


@pytest.fixture
def stub_broker() -> Iterator[StubBroker]:
    broker = StubBroker()
    broker.add_middleware(TracingMiddleware())
    try:
        yield broker
    finally:
        broker.close()


def test_consumer_span_continues_the_senders_trace(
    spans: InMemorySpanExporter, stub_broker: StubBroker
) -> None:
    seen: list[Any] = []

    def remember(value: str) -> None:
        seen.append(trace.get_current_span().get_span_context())

    actor = dramatiq.actor(remember, broker=stub_broker, actor_name="remember", max_retries=0)
    with _tracer().start_as_current_span("request") as request:
        actor.send("x")
    _run(stub_broker, actor.queue_name)

    finished = _finished(spans)
    [consumer] = [span for span in finished if span.kind == SpanKind.CONSUMER]
    assert consumer.name == "dramatiq remember"
    assert consumer.context.trace_id == request.get_span_context().trace_id
    assert consumer.parent is not None
    assert consumer.parent.span_id == request.get_span_context().span_id
    assert consumer.status.status_code == StatusCode.UNSET
    assert consumer.attributes is not None
    assert consumer.attributes["messaging.system"] == "dramatiq"
    # The actor runs inside the consumer span: its queries and commands are its children.
    assert seen == [consumer.context]


def test_failed_message_ends_its_span_with_the_error(
    spans: InMemorySpanExporter, stub_broker: StubBroker
) -> None:
    def fail() -> None:
        raise ValueError(f"token={SECRET}")

    actor = dramatiq.actor(fail, broker=stub_broker, actor_name="fail", max_retries=0)
    with _tracer().start_as_current_span("request"):
        actor.send()
    _run(stub_broker, actor.queue_name)

    finished = _finished(spans)
    [consumer] = [span for span in finished if span.kind == SpanKind.CONSUMER]
    assert consumer.status.status_code == StatusCode.ERROR
    assert [event.name for event in consumer.events] == ["exception"]
    _assert_no_secret(finished, SECRET)


def test_async_actor_runs_inside_the_consumer_span(spans: InMemorySpanExporter) -> None:
    """The workers' actors are coroutines, run on the AsyncIO middleware's loop thread: the
    span's context reaches them there."""
    broker = StubBroker()
    broker.add_middleware(AsyncIO())
    broker.add_middleware(TracingMiddleware())
    broker.emit_after("process_boot")
    seen: list[Any] = []

    async def remember_async() -> None:
        seen.append(trace.get_current_span().get_span_context())

    actor = dramatiq.actor(remember_async, broker=broker, actor_name="remember_async")
    try:
        with _tracer().start_as_current_span("request"):
            actor.send()
        _run(broker, actor.queue_name)
    finally:
        broker.close()
    [consumer] = [span for span in _finished(spans) if span.kind == SpanKind.CONSUMER]
    assert seen == [consumer.context]


def test_message_sent_outside_a_trace_starts_one(
    spans: InMemorySpanExporter, stub_broker: StubBroker
) -> None:
    actor = dramatiq.actor(lambda: None, broker=stub_broker, actor_name="untraced")
    message = actor.send()
    assert "otel" not in message.options
    _run(stub_broker, actor.queue_name)
    [consumer] = [span for span in _finished(spans) if span.kind == SpanKind.CONSUMER]
    assert consumer.parent is None
