"""The api and edge apps, built by the factory uvicorn calls (`create_app()`, no arguments),
set up the process's logging from LOG_JSON/LOG_LEVEL; a real request that fails leaves a
line without secrets, without locals and without the database password.

PostgreSQL is pointed at a closed port (with a password in its URL), so requests that need it
fail deep inside SQLAlchemy and asyncpg, the traceback the edge logs for a 503. Redis is real.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette

from core.config import get_settings
from tests.conftest import TEST_JWT_KEYS, TEST_STORAGE_SIGNING_SECRET
from tests.foundation.logging_support import flush, json_lines, process_logging_state, uncached
from tests.harness import ServiceURLs
from tests.outages import closed_port

DB_PASSWORD = "Pg-Secret-Passw0rd-7x"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkZXZpY2UtNDIifQ.c2lnbmF0dXJlLXZhbHVl"
DEVICE_CODE = "dcode-q1w2e3r4t5y6u7i8o9p0-secret"
REFRESH_TOKEN = "rt-9k7j5h3g1e0c8a6f4d2b-secret"
COOKIE = "sess-5e6f7a8b9c0d1e2f"
PASSWORD = "correct horse battery staple"


def leaked(text: str) -> list[str]:
    secrets = [DB_PASSWORD, JWT, DEVICE_CODE, REFRESH_TOKEN, COOKIE, PASSWORD]
    return [s for s in [*secrets, "BCDF-GHJK", "BCDFGHJK"] if s in text]


@pytest.fixture
def process_env(
    monkeypatch: pytest.MonkeyPatch, service_urls: ServiceURLs, redis_prefix: str, tmp_path: str
) -> Iterator[None]:
    """The environment a `signage api`/`edge` process would get, with PostgreSQL away."""
    for name, value in {
        "SIGNAGE_ENV": "test",
        "DATABASE_URL": f"postgresql://signage:{DB_PASSWORD}@127.0.0.1:{closed_port()}/signage",
        "REDIS_URL": service_urls.redis,
        "REDIS_KEY_PREFIX": redis_prefix,
        "SIGNAGE_DATA_DIR": f"{tmp_path}/data",
        "JWT_KEYS": TEST_JWT_KEYS,
        "JWT_ACTIVE_KID": "k1",
        "STORAGE_SIGNING_SECRET": TEST_STORAGE_SIGNING_SECRET,
        "LOG_JSON": "true",
        "LOG_LEVEL": "INFO",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@asynccontextmanager
async def factory_client(kind: str) -> AsyncIterator[httpx.AsyncClient]:
    """`create_app()` as uvicorn calls it, its lifespan run, and a client; the process's
    logging is restored afterwards."""
    if kind == "edge":
        from device_edge.app import create_app
    else:
        from graphql_api.app import create_app
    with process_logging_state():
        app: Starlette = create_app()
        uncached()
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
                yield client
        flush()


@pytest.mark.usefixtures("process_env")
async def test_edge_factory_logs_json_without_secrets_locals_or_passwords(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with factory_client("edge") as client:
        claim = await client.post(
            "/v1/device/pairing/claim",
            json={"claim_code": "BCDF-GHJK", "device_code": DEVICE_CODE},
            headers={"Authorization": f"Bearer {JWT}", "Cookie": f"session={COOKIE}"},
        )
        refresh = await client.post(
            "/v1/device/token/refresh", json={"refresh_token": REFRESH_TOKEN}
        )
        refused = await client.get("/v1/device/plan", headers={"Authorization": f"Bearer {JWT}"})
    assert claim.status_code == 503, claim.text
    assert refresh.status_code == 503, refresh.text
    assert refused.status_code == 401, refused.text
    for response in (claim, refresh):
        assert DB_PASSWORD not in response.text and "postgresql" not in response.text

    err = capsys.readouterr().err
    lines = json_lines(err)  # every line is JSON (LOG_JSON=true)
    # The outage's first 503 is logged with its cause; the second, moments later, is only
    # counted (device_edge.errors.OutageLog), so an outage does not flood the log.
    failures = [line for line in lines if line["event"] == "backend unavailable"]
    assert [line["path"] for line in failures] == ["/v1/device/pairing/claim"]
    for line in failures:
        assert line["level"] == "error"
        assert "Traceback (most recent call last)" in line["exception"]
        assert "asyncpg" in line["exception"] or "sqlalchemy" in line["exception"]
    # An expected refusal: one line, no traceback.
    [refusal] = [line for line in lines if line["event"] == "request refused"]
    assert refusal["status"] == 401 and refusal["level"] == "info"
    assert refusal["path"] == "/v1/device/plan" and "exception" not in refusal
    assert leaked(err) == []


@pytest.mark.usefixtures("process_env")
async def test_api_factory_logs_refusals_as_one_line_and_failures_without_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with factory_client("api") as client:
        unauthenticated = await client.post("/graphql", json={"query": "{ me { id } }"})
        login = await client.post(
            "/graphql",
            json={
                "query": "mutation Login($e: String!, $p: String!) {"
                " login(email: $e, password: $p) { __typename ... on Error { code } } }",
                "variables": {"e": "ops@example.com", "p": PASSWORD},
                "operationName": "Login",
            },
            headers={"Authorization": f"Bearer {JWT}"},
        )
    assert unauthenticated.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    # The database is out of reach: a typed, retryable result (issue 13), logged with its cause.
    assert login.json()["data"]["login"]["code"] == "UNAVAILABLE", login.text

    err = capsys.readouterr().err
    lines = json_lines(err)
    [refusal] = [line for line in lines if line["event"] == "graphql request refused"]
    assert refusal["code"] == "unauthenticated" and refusal["path"] == "me"
    assert refusal["level"] == "info" and "exception" not in refusal
    [failure] = [line for line in lines if line["event"] == "backend unavailable"]
    assert failure["path"] == "login" and failure["operation"] == "Login"
    assert "Traceback (most recent call last)" in failure["exception"]
    assert not any(line["logger"] == "strawberry.execution" for line in lines)
    assert leaked(err) == []
