"""Timed HTTP calls over the fleet's one shared connection pool.

Every request is recorded under an endpoint name with its outcome: the status code, or one
of the transport outcomes when no answer came back. A transport failure is raised as
`Unreachable` so callers handle "the backend is not there" in one place (buffer, back off,
retry), separately from answers they can read.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from simulator.stats import CONNECT_ERROR, TIMEOUT, TRANSPORT_ERROR, FleetStats


class Unreachable(Exception):
    """No HTTP answer: refused, timed out, or the connection broke."""

    def __init__(self, endpoint: str, outcome: str, cause: BaseException) -> None:
        super().__init__(f"{endpoint}: {outcome} ({type(cause).__name__}: {cause})")
        self.outcome = outcome
        # A refused connection never reached the server, so even a non-idempotent request
        # (like spending a refresh token) is safe to send again.
        self.request_not_sent = outcome == CONNECT_ERROR


def _outcome_of(exc: httpx.TransportError) -> str:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return CONNECT_ERROR
    if isinstance(exc, httpx.TimeoutException):
        return TIMEOUT
    return TRANSPORT_ERROR


CONNECTIONS_PER_SHARD = 4
# Below uvicorn's keep-alive timeout (5 s): an idle connection is dropped here before the
# server closes it, so a request never races the server's close on a stale connection.
KEEPALIVE_EXPIRY_S = 4.0


@dataclass
class _Shard:
    client: httpx.AsyncClient
    gate: asyncio.Semaphore
    busy: int = 0


class FleetHttp:
    """The HTTP clients of the whole fleet: thousands of players share `max_connections`.

    Why many small clients: httpcore's pool checks every connection it holds (a socket poll
    and a few dict-building calls each) whenever a request starts or ends, so one pool of
    hundreds of connections costs milliseconds of CPU per request, CPU the simulator shares
    with the stack on one machine. Each request goes to the least busy shard. Requests wait
    for a connection on an asyncio semaphore rather than in httpcore's queue, which is
    re-scanned per request.
    Latency is measured from the moment a connection is free, so it is the server's (plus
    the wire), not the simulator's queue; the longest queue wait is kept separately.
    """

    def __init__(self, *, max_connections: int, timeout_s: float) -> None:
        count = max(1, -(-max_connections // CONNECTIONS_PER_SHARD))
        per_shard = max(1, max_connections // count)
        limits = httpx.Limits(
            max_connections=per_shard,
            max_keepalive_connections=per_shard,
            keepalive_expiry=KEEPALIVE_EXPIRY_S,
        )
        self._shards = [
            _Shard(
                httpx.AsyncClient(
                    limits=limits, timeout=httpx.Timeout(timeout_s), http2=False, trust_env=False
                ),
                asyncio.Semaphore(per_shard),
            )
            for _ in range(count)
        ]
        self.worst_queue_s = 0.0

    @property
    def client(self) -> httpx.AsyncClient:
        """A client for one-off calls outside the fleet's accounting (uploads at setup)."""
        return self._shards[0].client

    def shard(self) -> _Shard:
        return min(self._shards, key=lambda shard: shard.busy)

    async def __aenter__(self) -> FleetHttp:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for shard in self._shards:
            await shard.client.aclose()


def error_code(response: httpx.Response) -> str | None:
    """`error.code` of the one JSON error shape, if the body has it."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        code = body["error"].get("code")
        return code if isinstance(code, str) else None
    return None


async def timed_request(
    http: FleetHttp,
    stats: FleetStats,
    endpoint: str,
    method: str,
    url: str,
    *,
    json_body: Any = None,
    content: bytes | None = None,
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Response:
    """Send one request and record it; raises `Unreachable` when no answer arrives."""
    send_headers = dict(headers or {})
    if json_body is not None:
        content = orjson.dumps(json_body)
        send_headers["Content-Type"] = "application/json"
    queued = time.perf_counter()
    shard = http.shard()
    shard.busy += 1
    try:
        async with shard.gate:
            started = time.perf_counter()
            http.worst_queue_s = max(http.worst_queue_s, started - queued)
            try:
                response = await shard.client.request(
                    method, url, content=content, headers=send_headers, params=params
                )
            except httpx.TransportError as exc:
                outcome = _outcome_of(exc)
                stats.record(endpoint, outcome, time.perf_counter() - started)
                stats.sample_error(f"{endpoint}: {outcome}: {type(exc).__name__}: {exc}")
                raise Unreachable(endpoint, outcome, exc) from exc
    finally:
        shard.busy -= 1
    stats.record(endpoint, response.status_code, time.perf_counter() - started)
    if response.status_code >= 400:
        stats.sample_error(f"{endpoint}: HTTP {response.status_code}: {response.text[:200]}")
    return response
