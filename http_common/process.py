"""What an HTTP app does when uvicorn's factory call makes it the process's app.

`signage api`/`edge` exec `uvicorn --factory <app>:create_app`; uvicorn sets up its own
logging first, then calls the factory with no arguments. That call is the one place that
knows this process is a server of ours, so it reads the settings and sets up logging there:
uvicorn's loggers are taken over, and rendering happens off the event loop
(`core.logging`). Tests build apps with explicit settings or services and keep their own
logging.
"""

from __future__ import annotations

import logging

from core.config import Settings, get_settings
from core.logging import configure_logging


def process_settings() -> Settings:
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json, off_thread=True)
    return settings


def logging_from_settings() -> logging.Handler:
    """uvicorn's `--log-config` hook (`http_common/uvicorn_logging.json`).

    uvicorn applies its log config in every process it runs before any app exists, the
    supervisor of `--workers N` included, which never calls the factory: without this its
    lines ("Started parent process", a worker that died) kept uvicorn's own text format.
    The hook sets up our logging from LOG_LEVEL/LOG_JSON and gives dictConfig a handler that
    is attached to nothing; the factory then sets up the serving process again, off the loop.
    """
    settings = get_settings()
    configure_logging(settings.log_level, json=settings.log_json)
    return logging.NullHandler()
