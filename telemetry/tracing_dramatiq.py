"""Traces across the message queue: a Dramatiq middleware (`telemetry.tracing` has the rest).

A message carries the trace it was sent from in `options["otel"]` (W3C trace context, as
`opentelemetry.propagate` writes it), so the worker's span for it, a CONSUMER span named
`dramatiq <actor>`, continues the request or job that sent it; the queries and Redis commands
the actor makes are that span's children. Add it to a broker only when tracing is on
(`configure_tracing` returned True): it imports OpenTelemetry when it is first used.
"""

from __future__ import annotations

import threading
from contextvars import Token
from typing import TYPE_CHECKING, Any

import dramatiq

from telemetry import tracing

if TYPE_CHECKING:
    from opentelemetry.context.context import Context
    from opentelemetry.trace import Span, Tracer

OPTION = "otel"
SCOPE = "alive_signage.dramatiq"


class TracingMiddleware(dramatiq.Middleware):
    def __init__(self) -> None:
        self._tracer: Tracer | None = None
        # message id -> its span and the context token to detach, in the worker thread that
        # processes it (before_ and after_process_message run in that same thread).
        self._active: dict[str, tuple[Span, Token[Context]]] = {}
        self._lock = threading.Lock()

    def _get_tracer(self) -> Tracer:
        if self._tracer is None:
            from opentelemetry import trace

            self._tracer = trace.get_tracer(SCOPE, tracer_provider=tracing.tracer_provider())
        return self._tracer

    def before_enqueue(
        self, broker: dramatiq.Broker, message: dramatiq.Message[Any], delay: int | None
    ) -> None:
        from opentelemetry import propagate

        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        # Re-enqueued without a trace around it (a delayed message moved to its queue): the
        # message keeps the context it was first sent from.
        if carrier:
            message.options[OPTION] = carrier

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        from opentelemetry import context, propagate, trace

        carrier = message.options.get(OPTION)
        parent = propagate.extract(carrier if isinstance(carrier, dict) else {})
        span = self._get_tracer().start_span(
            f"dramatiq {message.actor_name}",
            context=parent,
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "dramatiq",
                "messaging.operation": "process",
                "messaging.destination.name": message.queue_name,
                "messaging.message.id": message.message_id,
                "dramatiq.actor": message.actor_name,
                "dramatiq.retries": int(message.options.get("retries", 0) or 0),
            },
        )
        token = context.attach(trace.set_span_in_context(span))
        with self._lock:
            self._active[message.message_id] = (span, token)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        self._end(message, exception)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        self._end(message, None, skipped=True)

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: Any) -> None:
        tracing.flush()  # a worker process exits without atexit hooks

    def _end(self, message: Any, exception: BaseException | None, skipped: bool = False) -> None:
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        with self._lock:
            active = self._active.pop(message.message_id, None)
        if active is None:
            return
        span, token = active
        try:
            if skipped:
                span.set_attribute("dramatiq.skipped", True)
            if exception is not None:
                span.record_exception(exception)
                span.set_status(Status(StatusCode.ERROR, type(exception).__name__))
            span.end()
        finally:
            context.detach(token)
