"""Running `core.logging.configure_logging` inside one test, and putting everything back.

`configure_logging` sets up the whole process (root handlers, uvicorn's loggers, structlog).
These helpers apply it for the body of a `with` block only, during the test's call phase, so
pytest's own handlers of that phase are the ones restored. structlog's logger cache is turned
off while it runs, so no module logger keeps this configuration after the test.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from core.logging import SERVER_LOGGERS, configure_logging, stop_listener


@contextmanager
def process_logging_state() -> Iterator[None]:
    """Restore root handlers and level, the server loggers and structlog's configuration."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    saved_servers = {
        name: (logger.handlers[:], logger.level, logger.propagate)
        for name in SERVER_LOGGERS
        for logger in [logging.getLogger(name)]
    }
    saved_structlog = structlog.get_config()
    try:
        yield
    finally:
        stop_listener()
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        for name, (handlers, level, propagate) in saved_servers.items():
            logger = logging.getLogger(name)
            logger.handlers[:] = handlers
            logger.setLevel(level)
            logger.propagate = propagate
        structlog.configure(**saved_structlog)


def uncached() -> None:
    """Keep module-level loggers from caching the configuration under test."""
    structlog.configure(cache_logger_on_first_use=False)


@contextmanager
def configured(
    level: str = "INFO", *, json: bool = True, off_thread: bool = False
) -> Iterator[io.StringIO]:
    """The process logging set-up, writing to the yielded buffer (read it after `flush()`)."""
    stream = io.StringIO()
    with process_logging_state():
        configure_logging(level, json=json, stream=stream, off_thread=off_thread)
        uncached()
        yield stream


def flush() -> None:
    """Wait until the listener thread (off_thread=True) has written every pending line."""
    stop_listener()


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line parsed as JSON (fails on any line that is not)."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]
