"""Logging for every process, set up once at its start: JSON lines (LOG_JSON) or readable
lines, at LOG_LEVEL, for our structlog events and for the standard-library loggers of uvicorn,
Dramatiq, Strawberry and SQLAlchemy alike.

Who calls `configure_logging`: `signage` itself (so `signage up` and the one-shot commands),
the scheduler's `main`, the HTTP apps' factory when uvicorn starts them
(`http_common.process.process_settings`) and each Dramatiq worker process at boot
(`workers.broker`). It replaces whatever handlers the server put on the root logger, and takes
uvicorn's own loggers over, so one formatter (structlog's `ProcessorFormatter`) renders every
line. Until then (or in a process that never calls it: tests, in-process benchmarks),
`use_safe_defaults`, applied when `core` is imported, keeps structlog's readable output
without its rich tracebacks.

Three rules hold for every line:
- tracebacks are plain text (`traceback.format_exception`), never with local variables: locals
  carry request bodies, headers and tokens, and rendering them took seconds per error;
- `core.redaction` runs last before rendering, over the event's keys (at any depth) and every
  string, the rendered traceback included;
- in the HTTP servers (`off_thread=True`) the record only crosses a queue on the event loop;
  traceback formatting, redaction, rendering and the write happen on a listener thread, so an
  unexpected error never holds the loop that serves every other client.
"""

from __future__ import annotations

import atexit
import copy
import logging
import queue
import sys
from datetime import UTC, datetime
from logging.handlers import QueueHandler, QueueListener
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from core.redaction import REDACTED, is_secret_key, redact

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Loggers that servers configure with handlers of their own; ours replace them.
SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi", "dramatiq")

# Keys every line has; they never hold secrets, so redaction skips them.
_PLAIN_KEYS = frozenset({"timestamp", "level", "logger"})

_listener: QueueListener | None = None


def capture_exc_info(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """Resolve `exc_info=True` (what `log.exception` sets) to the exception now, on the
    calling thread: the formatter may run later on another thread, where `sys.exc_info()`
    would be empty."""
    exc_info = event_dict.get("exc_info")
    if exc_info is True:
        current = sys.exc_info()
        if current[0] is None:
            del event_dict["exc_info"]
        else:
            event_dict["exc_info"] = current
    elif isinstance(exc_info, BaseException):
        event_dict["exc_info"] = (type(exc_info), exc_info, exc_info.__traceback__)
    return event_dict


def _timestamp(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """The record's creation time (the moment of the log call, not of rendering)."""
    record = event_dict.get("_record")
    created = record.created if record is not None else datetime.now(UTC).timestamp()
    event_dict["timestamp"] = datetime.fromtimestamp(created, UTC).isoformat()
    return event_dict


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """`core.redaction` over the event: secret keys are replaced, every other value is
    scrubbed (the fixed keys excepted)."""
    for key, value in event_dict.items():
        if key in _PLAIN_KEYS:
            continue
        event_dict[key] = REDACTED if is_secret_key(key) else redact(value)
    return event_dict


def render_processors(*, json: bool) -> list[Processor]:
    """The formatter's chain, shared by structlog events and standard-library records."""
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    return [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        _timestamp,
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.format_exc_info,  # plain traceback text: no locals
        redact_secrets,
        renderer,
    ]


def build_formatter(*, json: bool) -> structlog.stdlib.ProcessorFormatter:
    return structlog.stdlib.ProcessorFormatter(processors=render_processors(json=json))


# What runs on the calling thread for a structlog event: cheap steps only.
EVENT_PROCESSORS: list[Processor] = [
    structlog.contextvars.merge_contextvars,
    capture_exc_info,
    structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
]


class DeferredQueueHandler(QueueHandler):
    """A QueueHandler that leaves formatting to the listener.

    The standard `prepare` formats the record (traceback included) on the calling thread,
    which is what we want to avoid. Here a standard-library record only has its message
    merged with its arguments (they may be mutable); a structlog record keeps its event
    dict; the exception stays attached for the listener's formatter to render.
    """

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record = copy.copy(record)
        if not isinstance(record.msg, dict):
            record.msg = record.getMessage()
            record.args = None
        return record


def configure_logging(
    level: str = "INFO",
    *,
    json: bool = False,
    stream: TextIO | None = None,
    off_thread: bool = False,
) -> None:
    """Set up this process's logging; calling it again replaces the previous set-up.

    `stream` defaults to the current `sys.stderr`. `off_thread` renders on a listener thread
    (for processes that run an event loop); pending lines are flushed at exit.
    """
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use one of {', '.join(LEVELS)}")
    stop_listener()

    output = logging.StreamHandler(stream if stream is not None else sys.stderr)
    output.setFormatter(build_formatter(json=json))
    output.setLevel(numeric)
    handler: logging.Handler = output
    if off_thread:
        records: queue.SimpleQueue[Any] = queue.SimpleQueue()
        handler = DeferredQueueHandler(records)
        handler.setLevel(numeric)
        global _listener
        _listener = QueueListener(records, output)
        _listener.start()
        atexit.register(stop_listener)

    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in SERVER_LOGGERS:
        # Their levels stay (uvicorn's --log-level may make them quieter); LOG_LEVEL filters
        # at our handler, so nothing below it is written whatever they allow.
        server_logger = logging.getLogger(name)
        if server_logger.handlers:  # the server's own output: send it through ours instead
            server_logger.handlers.clear()
            server_logger.propagate = True
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # start-up chatter

    structlog.configure(
        processors=EVENT_PROCESSORS,
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=True,
    )


def use_safe_defaults() -> None:
    """structlog's defaults, without local variables in tracebacks and with redaction: what a
    process gets before, or without, `configure_logging` (tests, in-process benchmarks).

    structlog's own defaults render tracebacks with rich, locals included, whenever rich is
    installed (it is, for the CLI extras): seconds per traceback, and every secret in scope.
    Called once when `core` is imported; `configure_logging` replaces it.
    """
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            structlog.dev.set_exc_info,
            structlog.processors.TimeStamper(fmt="%Y-%m-%d %H:%M:%S", utc=False),
            structlog.processors.format_exc_info,
            redact_secrets,
            structlog.dev.ConsoleRenderer(
                colors=False, exception_formatter=structlog.dev.plain_traceback
            ),
        ]
    )


def stop_listener() -> None:
    """Flush and stop the listener thread, if one runs (at exit, or before a new set-up)."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None
