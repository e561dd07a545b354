"""The separate metrics listener every process kind opens (METRICS_HOST:METRICS_<KIND>_PORT).

A plain threaded HTTP server beside the process's real work, so a scrape never waits on the
event loop or on the actors, and the public ports never answer it unless asked to
(METRICS_PUBLIC). It answers `GET /metrics` and nothing else; with METRICS_TOKEN set, only
to `Authorization: Bearer <METRICS_TOKEN>`.

Every process of a kind binds the same port with SO_REUSEPORT: the kernel hands each scrape
to one of them, and each answers with the sum over all of them (`telemetry.exposition`).
"""

from __future__ import annotations

import hmac
import socket
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import structlog
from prometheus_client.registry import Collector

from core.config import Settings
from core.security.tokens import InvalidToken
from http_common.bearer import bearer_token
from telemetry.exposition import CONTENT_TYPE, Exposition

log = structlog.get_logger(__name__)

PATH = "/metrics"


def token_accepted(authorization: str | None, token: str | None) -> bool:
    """No token configured: everyone (the listener is loopback by default). Otherwise the
    exact bearer token, compared in constant time."""
    if token is None:
        return True
    try:
        given = bearer_token(authorization)
    except InvalidToken:
        return False
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], exposition: Exposition, token: str | None):
        self.exposition = exposition
        self.token = token
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler, bind_and_activate=False)
        if hasattr(socket, "SO_REUSEPORT"):
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            self.server_bind()
            self.server_activate()
        except BaseException:
            self.server_close()
            raise


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # a client that sends nothing does not hold a thread forever

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != PATH:
            self._answer(404, b"not found\n", "text/plain; charset=utf-8")
        elif not token_accepted(self.headers.get("Authorization"), self.server.token):
            self._answer(401, b"unauthorized\n", "text/plain; charset=utf-8")
        else:
            self._answer(200, self.server.exposition.render(), CONTENT_TYPE)

    def _answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Bearer realm="metrics"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes are not worth a log line each."""


@dataclass
class MetricsListener:
    server: _Server
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_listener(
    settings: Settings, kind: str, extra: Sequence[Collector] = ()
) -> MetricsListener | None:
    """Open this kind's listener in a daemon thread; None when metrics or the port are off.

    A port that cannot be bound is logged, not fatal: the process's real work matters more
    than its figures, and the operator sees the target down in Prometheus."""
    port = settings.metrics_port(kind)
    if not settings.metrics_enabled or port == 0:
        return None
    token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
    try:
        server = _Server((settings.metrics_host, port), Exposition(extra), token)
    except OSError as exc:
        log.error("metrics listener not started", kind=kind, port=port, error=str(exc))
        return None
    thread = threading.Thread(target=server.serve_forever, name=f"metrics-{kind}", daemon=True)
    thread.start()
    log.info("metrics listener started", kind=kind, address=f"{settings.metrics_host}:{port}")
    return MetricsListener(server, thread)
