"""The HTTP_* limits reach the servers `signage` starts: a head over HTTP_MAX_HEADER_BYTES is
refused, and beyond HTTP_MAX_CONCURRENCY connections a request gets 503."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from core.config import Settings
from ops.cli.processes import process_argv
from tests.harness import ServiceURLs
from tests.stack.process_support import server_env, signage_server


def test_process_command_lines_carry_the_limits() -> None:
    settings = Settings.model_validate(
        {
            "HTTP_MAX_HEADER_BYTES": "4096",
            "HTTP_KEEP_ALIVE_TIMEOUT_S": "7",
            "HTTP_MAX_CONCURRENCY": "300",
        }
    )
    for kind in ("api", "edge"):
        argv = " ".join(process_argv(kind, settings))
        assert "--http http_common.server:LimitedHttpToolsProtocol" in argv
        assert "--h11-max-incomplete-event-size 4096" in argv
        assert "--timeout-keep-alive 7" in argv
        assert "--limit-concurrency 300" in argv


def until_status(client: httpx.Client, wanted: int) -> int:
    """GET /healthz until it answers `wanted` (the server sees connections come and go a
    moment after the client does), for at most 30 s; the last status."""
    deadline = time.monotonic() + 30
    while (status := client.get("/healthz").status_code) != wanted:
        if time.monotonic() > deadline:
            break
        time.sleep(0.1)
    return status


def idle_connection(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["edge", "api"])
def test_header_size_and_concurrency_limits_reach_the_server(
    service_urls: ServiceURLs, tmp_path: Path, kind: str
) -> None:
    env = server_env(
        service_urls.redis,
        tmp_path / "data",
        HTTP_MAX_HEADER_BYTES="2048",
        HTTP_MAX_CONCURRENCY="4",
        HTTP_REQUEST_TIMEOUT_S="120",  # idle connections stay while the test needs them
    )
    with signage_server(kind, env, tmp_path) as server:
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            fits = client.get("/healthz", headers={"X-Pad": "a" * 1500})
            too_large = client.get("/healthz", headers={"X-Pad": "a" * 3000})
        assert fits.status_code == 200
        assert too_large.status_code == 431

        held = [idle_connection(server.port) for _ in range(4)]
        try:
            with httpx.Client(base_url=server.base_url, timeout=30) as client:
                assert until_status(client, 503) == 503
        finally:
            for connection in held:
                connection.close()
        # Once the server has seen them close, there is room again.
        with httpx.Client(base_url=server.base_url, timeout=30) as client:
            assert until_status(client, 200) == 200
