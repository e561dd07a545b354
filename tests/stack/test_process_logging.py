"""`signage edge` and `signage api` as real processes honour LOG_JSON and LOG_LEVEL for every
line they write, uvicorn's own included, and keep secrets out of them.

PostgreSQL is out of reach (its URL carries a password), so a request that needs it fails
with the deepest traceback the servers log; Redis is real.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.harness import ServiceURLs
from tests.stack.process_support import DB_PASSWORD, server_env, signage_server

pytestmark = pytest.mark.slow

JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXZpY2UtNDIifQ.c2lnbmF0dXJlLXZhbHVl"
DEVICE_CODE = "dcode-q1w2e3r4t5y6u7i8o9p0-secret"
PASSWORD = "correct horse battery staple"


def parsed(stderr: str) -> list[dict[str, Any]]:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "the process wrote nothing"
    return [json.loads(line) for line in lines]  # fails on any line that is not JSON


def leaked(text: str) -> list[str]:
    secrets = [DB_PASSWORD, JWT, DEVICE_CODE, PASSWORD, "BCDF-GHJK", "BCDFGHJK"]
    return [secret for secret in secrets if secret in text]


def test_signage_edge_writes_json_lines_without_secrets(
    service_urls: ServiceURLs, tmp_path: Path
) -> None:
    env = server_env(service_urls.redis, tmp_path / "data", LOG_JSON="true", LOG_LEVEL="INFO")
    # `-- --access-log`: the access log is off by default; on, it must not leak either.
    with signage_server("edge", env, tmp_path, "--", "--access-log") as edge:
        with httpx.Client(base_url=edge.base_url, timeout=30) as client:
            claim = client.post(
                "/v1/device/pairing/claim",
                json={"claim_code": "BCDF-GHJK", "device_code": DEVICE_CODE},
                headers={"Authorization": f"Bearer {JWT}"},
            )
            refused = client.get(
                f"/v1/device/plan?access_token={JWT}&device_code={DEVICE_CODE}",
                headers={"Authorization": f"Bearer {JWT}"},
            )
        stderr = edge.stop()
    assert claim.status_code == 503 and refused.status_code == 401

    lines = parsed(stderr)
    events = [line["event"] for line in lines]
    assert any(event.startswith("Started server process") for event in events)
    assert "Application startup complete." in events
    [failure] = [line for line in lines if line["event"] == "backend unavailable"]
    assert "Traceback (most recent call last)" in failure["exception"]
    [refusal] = [line for line in lines if line["event"] == "request refused"]
    assert refusal["code"] == "invalid_token" and "exception" not in refusal
    [access] = [line for line in lines if "/v1/device/plan" in line["event"]]
    assert access["logger"] == "uvicorn.access"
    assert "access_token=[redacted]&device_code=[redacted]" in access["event"]
    assert leaked(stderr) == []


def test_signage_api_honours_log_level_and_log_json(
    service_urls: ServiceURLs, tmp_path: Path
) -> None:
    env = server_env(service_urls.redis, tmp_path / "data", LOG_JSON="true", LOG_LEVEL="WARNING")
    with signage_server("api", env, tmp_path) as api:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            unauthenticated = client.post("/graphql", json={"query": "{ me { id } }"})
            login = client.post(
                "/graphql",
                json={
                    "query": 'mutation { login(email: "ops@example.com",'
                    f' password: "{PASSWORD}") {{ __typename }} }}'
                },
            )
        stderr = api.stop()
    assert unauthenticated.json()["errors"]
    # The database is out of reach: a typed, retryable result (issue 13).
    assert login.json()["data"]["login"]["__typename"] == "UnavailableError", login.text

    lines = parsed(stderr)
    # LOG_LEVEL=WARNING: uvicorn's start-up lines and the refusal (info) are not written...
    assert {line["level"] for line in lines} <= {"warning", "error", "critical"}
    # ...the outage (error) is, with its traceback and without the password.
    [failure] = [line for line in lines if line["event"] == "backend unavailable"]
    assert failure["path"] == "login" and "Traceback" in failure["exception"]
    assert leaked(stderr) == []


def test_signage_worker_parent_and_workers_write_json_lines(
    service_urls: ServiceURLs, tmp_path: Path
) -> None:
    """Dramatiq's parent process used to log its lifecycle in its own text format."""
    env = server_env(service_urls.redis, tmp_path / "data", LOG_JSON="true", LOG_LEVEL="INFO")
    stderr_path = tmp_path / "worker.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", "worker", "--processes", "1", "--threads", "1"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 90
        while "ready for action" not in stderr_path.read_text():
            assert process.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, stderr_path.read_text()
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    lines = parsed(stderr_path.read_text())
    events = [str(line["event"]) for line in lines]
    assert any("booting up" in event for event in events), events  # the parent
    assert any("ready for action" in event for event in events), events  # a worker process
    assert any("Sending signal" in event for event in events), events  # the parent, at exit
    assert leaked(stderr_path.read_text()) == []


def test_signage_api_with_workers_writes_json_lines_from_the_supervisor_too(
    service_urls: ServiceURLs, tmp_path: Path
) -> None:
    """uvicorn's `--workers` supervisor never runs the app factory: it is set up through
    uvicorn's --log-config (http_common/uvicorn_logging.json)."""
    env = server_env(service_urls.redis, tmp_path / "data", LOG_JSON="true", LOG_LEVEL="INFO")
    with signage_server("api", env, tmp_path, "--", "--workers", "2") as api:
        with httpx.Client(base_url=api.base_url, timeout=30) as client:
            assert client.get("/healthz").status_code == 200
        stderr = api.stop()

    events = [str(line["event"]) for line in parsed(stderr)]
    assert any(event.startswith("Started parent process") for event in events), events
    assert sum(event.startswith("Started server process") for event in events) == 2, events
    assert leaked(stderr) == []
