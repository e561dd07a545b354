"""Traces, optional: OpenTelemetry through the HTTP apps, SQLAlchemy/asyncpg, Redis and Dramatiq.

Off unless the standard variables ask for it: OTEL_TRACES_EXPORTER (`otlp`, `console`; `none`
is off) or an OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
and OTEL_SDK_DISABLED not `true`. The packages are the `otel` extra (`pip install
'alive-signage[otel]'`); asked for without them, a process logs one warning and runs untraced.
The OTLP exporter (http/protobuf) reads the rest of OTEL_EXPORTER_OTLP_* itself; the service
name is OTEL_SERVICE_NAME, else `alive-signage-<process kind>`.

Every entry point (`configure_tracing`, `instrument_engine`, `traced_asgi`) costs nothing when
tracing is off, and nothing here imports OpenTelemetry until tracing is on.

What a span may carry is held to the rule of `core.redaction`, as log lines are:
- SQL spans record the statement text, never its bound parameters (asyncpg sends them
  separately, as $1, $2...); Redis spans record the command name with `?` for each argument.
- HTTP spans record no header unless OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_* name it,
  and even then never the values of Authorization, Cookie and the like (`ALWAYS_SANITIZED`).
- Before export, every string in a span (attributes, event attributes such as an exception's
  message, the status description, the name) goes through `core.redaction.redact_text`: a
  signed URL's `signature=`, a bearer token in an error message, a password in a URL.

Background chatter is not traced: a database or Redis call with no request or message around
it (Dramatiq's queue polling, the scheduler's leader lock, pool pings) would be a root CLIENT
span of its own every second; `_NoBackgroundClientRoots` drops those before they are recorded.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.redaction import redact_text

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

log = structlog.get_logger(__name__)

SERVICE_PREFIX = "alive-signage-"
# Header values never recorded, whatever OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_* say
# (regular expressions, case-insensitive, as OpenTelemetry reads its sanitize list).
ALWAYS_SANITIZED = (
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    ".*token.*",
    ".*secret.*",
    ".*signature.*",
    "x-api-key",
)
_SQLALCHEMY_SCOPE = "opentelemetry.instrumentation.sqlalchemy"


@dataclass
class _Tracing:
    provider: TracerProvider
    engines: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)


_state: _Tracing | None = None
_lock = threading.Lock()
_warned_missing = False


def tracing_requested(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OTEL_* variables ask for traces (an explicit
    OTEL_TRACES_EXPORTER=none wins over an endpoint)."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(environ)
    if exporters:
        return exporters != ["none"]
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def tracing_enabled() -> bool:
    """Whether `configure_tracing` turned tracing on in this process."""
    return _state is not None


def tracer_provider() -> TracerProvider | None:
    """This process's tracer provider, None while tracing is off."""
    return _state.provider if _state is not None else None


def configure_tracing(
    service_name: str,
    *,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> bool:
    """Turn tracing on for this process if the environment asks for it; True if it is on.

    `service_name` is the process kind (api, edge, worker, scheduler). Idempotent: a second
    call changes nothing and answers whether tracing is on. `exporter` replaces the one the
    environment names (tests pass an in-memory one); `set_global=False` keeps the provider
    out of OpenTelemetry's process-wide slot, which can be set only once (tests again)."""
    global _state, _warned_missing
    with _lock:
        if _state is not None:
            return True
        if not tracing_requested():
            return False
        try:
            provider = _build_provider(service_name, exporter)
        except ImportError as exc:
            if not _warned_missing:
                _warned_missing = True
                log.warning(
                    "tracing asked for by OTEL_* but the otel extra is not installed",
                    hint="pip install 'alive-signage[otel]'",
                    missing=exc.name,
                )
            return False
        from opentelemetry import trace
        from opentelemetry.instrumentation.redis import RedisInstrumentor
        from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

        if set_global:
            trace.set_tracer_provider(provider)
        # Engines made by sqlalchemy.create_engine & co. from now on; ours are made before
        # this runs in some processes, hence `instrument_engine`. The instrumentation declares
        # SQLAlchemy < 2.1 and would otherwise refuse 2.1 (its event hooks are unchanged;
        # tests/telemetry/test_tracing.py runs them on the pinned version).
        SQLAlchemyInstrumentor().instrument(
            tracer_provider=provider, enable_commenter=False, skip_dep_check=True
        )
        RedisInstrumentor().instrument(tracer_provider=provider)
        _state = _Tracing(provider=provider)
        log.info("tracing on", service=_service_name(service_name))
        return True


def instrument_engine(engine: AsyncEngine) -> None:
    """Trace the statements of this engine (an async engine is traced through its sync
    engine, which the global instrumentation only catches when it creates the engine)."""
    state = _state
    if state is None:
        return
    from opentelemetry import metrics, trace
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.instrumentation.sqlalchemy.version import __version__

    sync_engine = engine.sync_engine
    with _lock:
        if sync_engine in state.engines or _traced_at_creation(EngineTracer, sync_engine):
            return
        state.engines.add(sync_engine)
    tracer = trace.get_tracer(_SQLALCHEMY_SCOPE, __version__, tracer_provider=state.provider)
    # No meter provider is configured: the pool figures are Prometheus's (telemetry.runtime).
    usage = metrics.get_meter(_SQLALCHEMY_SCOPE, __version__).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(tracer, sync_engine, usage, False, {}, False)  # type: ignore[no-untyped-call]


def traced_asgi(app: ASGIApp) -> ASGIApp:
    """`app` inside OpenTelemetry's ASGI middleware while tracing is on, else `app` itself.

    One SERVER span per request or websocket connection (no spans per message sent or
    received), named and tagged by the route template Starlette matched. Paths in
    OTEL_PYTHON_ASGI_EXCLUDED_URLS (or OTEL_PYTHON_EXCLUDED_URLS) are not traced."""
    state = _state
    if state is None:
        return app
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    from opentelemetry.util.http import (
        OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS,
        get_custom_headers,
        get_excluded_urls,
    )

    sanitized = [
        *get_custom_headers(OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_SANITIZE_FIELDS),
        *ALWAYS_SANITIZED,
    ]
    middleware: ASGIApp = OpenTelemetryMiddleware(
        _RouteNames(app),
        excluded_urls=get_excluded_urls("ASGI"),
        tracer_provider=state.provider,
        http_capture_headers_sanitize_fields=sanitized,
        exclude_spans=["receive", "send"],
    )
    return middleware


class _RouteNames:
    """Inside the SERVER span: when the answer starts (Starlette has routed by then), the span
    takes the route template as `http.route` and as its name (`GET /v1/device/plan`, never a
    path with an id in it). Unrouted answers keep OpenTelemetry's name."""

    def __init__(self, app: ASGIApp) -> None:
        from telemetry.http import UNMATCHED, route_of  # the metrics' reading of the route

        self.app = app
        self._route_of = route_of
        self._unmatched = UNMATCHED

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        from opentelemetry import trace

        span = trace.get_current_span()
        if not span.is_recording():
            await self.app(scope, receive, send)
            return

        async def naming_send(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.accept"):
                route = self._route_of(scope)
                if route != self._unmatched:
                    span.set_attribute("http.route", route)
                    method = scope.get("method")
                    span.update_name(f"{method} {route}" if method else route)
            await send(message)

        await self.app(scope, receive, naming_send)


def flush(timeout_ms: int = 5_000) -> bool:
    """Export what is buffered (a Dramatiq worker process exits without atexit hooks)."""
    state = _state
    return state.provider.force_flush(timeout_ms) if state is not None else True


def shutdown_tracing() -> None:
    """Flush, stop exporting and remove every instrumentation (tests; process exit)."""
    global _state
    with _lock:
        state, _state = _state, None
    if state is None:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    SQLAlchemyInstrumentor().uninstrument()
    # instrument_engine's listeners too (uninstrument removes them; this again is a no-op)
    EngineTracer.remove_all_event_listeners()  # type: ignore[no-untyped-call]
    RedisInstrumentor().uninstrument()
    state.provider.shutdown()


def _exporter_names(environ: Mapping[str, str]) -> list[str]:
    raw = environ.get("OTEL_TRACES_EXPORTER", "")
    return [name.strip().lower() for name in raw.split(",") if name.strip()]


def _service_name(service_name: str) -> str:
    return os.environ.get("OTEL_SERVICE_NAME", "").strip() or SERVICE_PREFIX + service_name


def _build_provider(service_name: str, exporter: SpanExporter | None) -> TracerProvider:
    """Raises ImportError without the otel extra (before anything is instrumented)."""
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    del RedisInstrumentor, SQLAlchemyInstrumentor  # imported to fail early, if they must
    import opentelemetry.instrumentation.asgi  # noqa: F401

    exporters = [exporter] if exporter is not None else _exporters_from_env()
    env_sampler = TracerProvider(shutdown_on_exit=False).sampler  # OTEL_TRACES_SAMPLER & co.
    provider = TracerProvider(
        resource=Resource.create({SERVICE_NAME: _service_name(service_name)}),
        sampler=_no_background_client_roots(env_sampler),
    )
    for each in exporters:
        provider.add_span_processor(BatchSpanProcessor(_redacting(each)))
    return provider


def _exporters_from_env() -> list[SpanExporter]:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    names = [name for name in _exporter_names(os.environ) if name != "none"] or ["otlp"]
    exporters: list[SpanExporter] = []
    for name in dict.fromkeys(names):
        if name == "console":
            exporters.append(ConsoleSpanExporter())
            continue
        if name not in ("otlp", "otlp_proto_http"):
            log.warning("unsupported OTEL_TRACES_EXPORTER, using otlp (http/protobuf)", name=name)
        exporters.append(OTLPSpanExporter())
    protocol = os.environ.get(
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "")
    )
    if protocol.strip() and protocol.strip() != "http/protobuf":
        log.warning("only the http/protobuf OTLP protocol is installed", protocol=protocol)
    return exporters


def _traced_at_creation(engine_tracer: Any, sync_engine: Any) -> bool:
    """Whether the global instrumentation already traces this engine (it wraps
    create_engine/create_async_engine, which some callers reach after it is installed)."""
    registered = getattr(engine_tracer, "_remove_event_listener_params", ())
    return any(
        ref() is sync_engine and identifier == "before_cursor_execute"
        for ref, identifier, _ in registered
    )


def _no_background_client_roots(delegate: Any) -> Any:
    from opentelemetry import trace
    from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult

    class NoBackgroundClientRoots(Sampler):
        """A CLIENT span with no parent (a query or Redis command outside any request or
        message) is dropped; everything else is up to the sampler the environment names."""

        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: trace.SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if kind == trace.SpanKind.CLIENT and not parent.is_valid:
                return SamplingResult(Decision.DROP)
            result: SamplingResult = delegate.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
            return result

        def get_description(self) -> str:
            return f"NoBackgroundClientRoots{{{delegate.get_description()}}}"

    return NoBackgroundClientRoots()


def _redacting(exporter: SpanExporter) -> SpanExporter:
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
    from opentelemetry.trace import Status

    class Redacting(SpanExporter):
        """`exporter`, given spans whose every string went through `redact_text`."""

        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return exporter.export([redacted(span) for span in spans])

        def shutdown(self) -> None:
            exporter.shutdown()

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return exporter.force_flush(timeout_millis)

    def redacted(span: ReadableSpan) -> ReadableSpan:
        name = redact_text(span.name)
        attributes = _redacted_attributes(span.attributes)
        events = [
            Event(event.name, _redacted_attributes(event.attributes), event.timestamp)
            for event in span.events
        ]
        description = span.status.description
        clean_description = redact_text(description) if description else description
        if (
            name == span.name
            and attributes == span.attributes
            and all(
                new.attributes == old.attributes
                for new, old in zip(events, span.events, strict=True)
            )
            and clean_description == description
        ):
            return span
        return ReadableSpan(
            name=name,
            context=span.context,
            parent=span.parent,
            resource=span.resource,
            attributes=attributes,
            events=events,
            links=span.links,
            kind=span.kind,
            status=Status(span.status.status_code, clean_description),
            start_time=span.start_time,
            end_time=span.end_time,
            instrumentation_scope=span.instrumentation_scope,
        )

    return Redacting()


def _redacted_attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    for key, value in (attributes or {}).items():
        if isinstance(value, str):
            clean[key] = redact_text(value)
        elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
            clean[key] = tuple(redact_text(v) if isinstance(v, str) else v for v in value)
        else:
            clean[key] = value
    return clean
