"""Where metrics are served, and to whom: the separate listener (token, 404, port 0, disabled,
SO_REUSEPORT), the METRICS_* settings, the optional public `/metrics` route of both apps, and
the multiprocess aggregation of one process kind's figures."""

from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

import core.metrics
from core.bootstrap import Services
from core.config import Settings
from device_edge.app import create_app as create_edge
from graphql_api.app import create_app as create_api
from ops.cli.processes import metrics_environment
from telemetry.exposition import CONTENT_TYPE, MULTIPROCESS_ENV
from telemetry.listener import MetricsListener, start_listener, token_accepted
from tests.stack.support import free_port
from tests.telemetry.scraping import parse

TOKEN = "metrics-token-0123456789abcdef"
REPO = Path(__file__).resolve().parents[2]


# --- token_accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer anything", "Basic dXNlcjpwYXNz", "garbage", "Bearer "]
)
def test_without_a_token_configured_everyone_is_accepted(authorization: str | None) -> None:
    assert token_accepted(authorization, None) is True


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"BEARER {TOKEN}",
        f"BeArEr {TOKEN}",
        f"Bearer {TOKEN} ",
    ],
)
def test_the_exact_bearer_token_is_accepted(authorization: str) -> None:
    assert token_accepted(authorization, TOKEN) is True


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        TOKEN,
        f"Basic {TOKEN}",
        f"Token {TOKEN}",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN.upper()}",
        f"Bearer x{TOKEN}",
        f"Bearer {TOKEN} {TOKEN}",
        f"Bearer{TOKEN}",
        "Bearer wrong-token-0123456789",
        f"Bearer {TOKEN}\u00e9",
    ],
)
def test_anything_else_is_refused_when_a_token_is_set(authorization: str | None) -> None:
    assert token_accepted(authorization, TOKEN) is False


# --- the separate listener ---------------------------------------------------------------------


def listener_settings(**values: Any) -> Settings:
    return Settings.model_validate({"SIGNAGE_ENV": "test", **values})


def get(port: int, path: str = "/metrics", token: str | None = None) -> tuple[int, Any, str]:
    """(status, headers, body) of a GET to the listener on 127.0.0.1."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.headers, response.read().decode()
    finally:
        connection.close()


@pytest.fixture
def listeners() -> Iterator[list[MetricsListener]]:
    started: list[MetricsListener] = []
    yield started
    for listener in started:
        listener.stop()


def start(
    settings: Settings, kind: str, listeners: list[MetricsListener]
) -> MetricsListener | None:
    listener = start_listener(settings, kind)
    if listener is not None:
        listeners.append(listener)
    return listener


@pytest.mark.parametrize(
    ("kind", "setting"),
    [
        ("api", "METRICS_API_PORT"),
        ("edge", "METRICS_EDGE_PORT"),
        ("worker", "METRICS_WORKER_PORT"),
        ("scheduler", "METRICS_SCHEDULER_PORT"),
    ],
)
def test_the_listener_serves_this_process_registry(
    kind: str, setting: str, listeners: list[MetricsListener]
) -> None:
    port = free_port()
    listener = start(listener_settings(**{setting: port}), kind, listeners)
    assert listener is not None and listener.port == port

    core.metrics.POP_EVENTS.labels("accepted", "").inc(0)  # make sure the child exists
    expected = REGISTRY.get_sample_value(
        "signage_pop_events_total", {"outcome": "accepted", "reason": ""}
    )
    status, headers, body = get(port)
    assert status == 200
    assert headers["Content-Type"] == CONTENT_TYPE
    assert headers["Content-Type"].startswith("text/plain")
    scrape = parse(body)
    assert "signage_pop_events_total" in scrape.names
    assert scrape.value("signage_pop_events_total", outcome="accepted", reason="") == expected

    for path in ("/", "/metrics/", "/metricsx", "/other", "/v1/device/plan"):
        assert get(port, path)[0] == 404, path
    assert get(port, "/metrics?name[]=x")[0] == 200  # a query string is still /metrics


def test_the_listener_with_a_token_answers_only_it(listeners: list[MetricsListener]) -> None:
    port = free_port()
    assert start(listener_settings(METRICS_API_PORT=port, METRICS_TOKEN=TOKEN), "api", listeners)

    for token in (None, "wrong-token-0123456789", TOKEN[:-1]):
        status, headers, body = get(port, token=token)
        assert status == 401, token
        assert headers["WWW-Authenticate"].startswith("Bearer")
        assert "signage_" not in body
    status, _, body = get(port, token=TOKEN)
    assert status == 200
    assert "signage_pop_events_total" in parse(body).names
    assert get(port, "/other", token=TOKEN)[0] == 404


def closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) != 0


@pytest.mark.parametrize("kind", ["api", "edge", "worker", "scheduler"])
def test_a_port_of_zero_turns_the_listener_off(kind: str, listeners: list[MetricsListener]) -> None:
    settings = listener_settings(
        METRICS_API_PORT=0, METRICS_EDGE_PORT=0, METRICS_WORKER_PORT=0, METRICS_SCHEDULER_PORT=0
    )
    assert start(settings, kind, listeners) is None


def test_metrics_disabled_turns_the_listener_off(listeners: list[MetricsListener]) -> None:
    port = free_port()
    settings = listener_settings(METRICS_ENABLED="false", METRICS_EDGE_PORT=port)
    assert start(settings, "edge", listeners) is None
    assert closed(port)


def test_a_port_taken_by_another_program_is_not_fatal(listeners: list[MetricsListener]) -> None:
    with socket.socket() as squatter:  # bound without SO_REUSEPORT: nobody can share it
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        assert start(listener_settings(METRICS_API_PORT=port), "api", listeners) is None


def test_two_processes_of_a_kind_share_the_port(listeners: list[MetricsListener]) -> None:
    port = free_port()
    settings = listener_settings(METRICS_WORKER_PORT=port)
    first = start(settings, "worker", listeners)
    second = start(settings, "worker", listeners)
    assert first is not None and second is not None
    assert first.port == second.port == port
    for _ in range(4):
        assert get(port)[0] == 200
    first.stop()
    listeners.remove(first)
    assert get(port)[0] == 200  # the other one still answers


# --- settings ----------------------------------------------------------------------------------


def test_metrics_defaults() -> None:
    settings = listener_settings()
    assert settings.metrics_enabled is True
    assert settings.metrics_host == "127.0.0.1"
    assert (
        settings.metrics_api_port,
        settings.metrics_edge_port,
        settings.metrics_worker_port,
        settings.metrics_scheduler_port,
    ) == (9101, 9102, 9103, 9104)
    assert settings.metrics_public is False
    assert settings.metrics_token is None


def test_public_metrics_need_a_token() -> None:
    with pytest.raises(ValidationError, match="METRICS_TOKEN"):
        listener_settings(METRICS_PUBLIC="true")
    with pytest.raises(ValidationError):
        listener_settings(METRICS_PUBLIC="true", METRICS_TOKEN="")
    allowed = listener_settings(METRICS_PUBLIC="true", METRICS_TOKEN=TOKEN)
    assert allowed.metrics_public is True


@pytest.mark.parametrize("token", ["", "x", "fifteen-chars-x"])
def test_a_short_token_is_refused(token: str) -> None:
    assert len(token) < 16
    with pytest.raises(ValidationError, match="16"):
        listener_settings(METRICS_TOKEN=token)


def test_a_sixteen_character_token_is_enough() -> None:
    settings = listener_settings(METRICS_TOKEN="sixteen-chars-xx")
    assert settings.metrics_token is not None
    assert settings.metrics_token.get_secret_value() == "sixteen-chars-xx"
    assert "sixteen-chars-xx" not in repr(settings)


@pytest.mark.parametrize("port", [-1, 65536])
def test_ports_out_of_range_are_refused(port: int) -> None:
    with pytest.raises(ValidationError):
        listener_settings(METRICS_API_PORT=port)


# --- the public /metrics route of the two apps -------------------------------------------------


def public(settings: Settings, **values: Any) -> Settings:
    dumped = {
        key: value.get_secret_value() if hasattr(value, "get_secret_value") else value
        for key, value in settings.model_dump(by_alias=True).items()
        if value is not None
    }
    return Settings.model_validate({**dumped, **values})


def client(app: Any, base_url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


APPS = [(create_api, "http://api.test"), (create_edge, "http://edge.test")]


@pytest.mark.parametrize(("create_app", "base_url"), APPS, ids=["api", "edge"])
async def test_public_metrics_answer_only_the_token(
    settings: Settings, services: Services, create_app: Any, base_url: str
) -> None:
    on = public(settings, METRICS_PUBLIC="true", METRICS_TOKEN=TOKEN)
    assert on.database_url == settings.database_url
    async with client(create_app(settings=on, services=services), base_url) as http:
        for headers in (
            {},
            {"Authorization": "Bearer wrong-token-0123456789"},
            {"Authorization": TOKEN},
        ):
            refused = await http.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert refused.json()["error"]["code"] == "unauthenticated"
            assert "signage_" not in refused.text
        answered = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert answered.status_code == 200
        assert answered.headers["content-type"] == CONTENT_TYPE
        scrape = parse(answered.text)
        assert "signage_http_requests_total" in scrape.names
        # the refusals just made are among the figures
        app = "api" if "api" in base_url else "edge"
        assert (
            scrape.value("signage_http_requests_total", app=app, route="/metrics", status="401")
            >= 3
        )


@pytest.mark.parametrize(("create_app", "base_url"), APPS, ids=["api", "edge"])
@pytest.mark.parametrize(
    "values",
    [
        {},
        {"METRICS_TOKEN": TOKEN},
        {"METRICS_PUBLIC": "true", "METRICS_TOKEN": TOKEN, "METRICS_ENABLED": "false"},
    ],
    ids=["default", "token-only", "disabled"],
)
async def test_without_public_metrics_the_route_does_not_exist(
    settings: Settings,
    services: Services,
    create_app: Any,
    base_url: str,
    values: dict[str, str],
) -> None:
    off = public(settings, **values)
    async with client(create_app(settings=off, services=services), base_url) as http:
        for headers in ({}, {"Authorization": f"Bearer {TOKEN}"}):
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == 404
            assert "signage_" not in response.text


async def test_the_edge_openapi_lists_metrics_only_when_public(
    settings: Settings, services: Services
) -> None:
    documents: dict[str, dict[str, Any]] = {}
    for label, values in (
        ("on", {"METRICS_PUBLIC": "true", "METRICS_TOKEN": TOKEN}),
        ("off", {}),
    ):
        async with client(
            create_edge(settings=public(settings, **values), services=services), "http://edge.test"
        ) as http:
            response = await http.get("/v1/device/openapi.json")
            assert response.status_code == 200
            documents[label] = response.json()
    assert "/metrics" in documents["on"]["paths"]
    assert set(documents["on"]["paths"]["/metrics"]) == {"get"}
    assert "/metrics" not in documents["off"]["paths"]
    assert set(documents["on"]["paths"]) - set(documents["off"]["paths"]) == {"/metrics"}


# --- one process kind, several processes: multiprocess mode -------------------------------------


def run_python(code: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_figures_of_several_processes_are_summed(tmp_path: Path) -> None:
    directory = tmp_path / "multiproc"
    directory.mkdir()
    env = {**os.environ, MULTIPROCESS_ENV: str(directory)}
    increment = (
        "from core.metrics import POP_EVENTS\n"
        "POP_EVENTS.labels('accepted', '').inc(3)\n"
        "POP_EVENTS.labels('rejected', 'invalid_type').inc()\n"
    )
    run_python(increment, env)
    run_python(increment, env)
    assert len(list(directory.glob("counter_*.db"))) == 2  # one file per process

    render = (
        "import sys\n"
        "from telemetry.exposition import Exposition\n"
        "sys.stdout.write(Exposition().render().decode())\n"
    )
    scrape = parse(run_python(render, env))
    assert scrape.value("signage_pop_events_total", outcome="accepted", reason="") == 6
    assert scrape.value("signage_pop_events_total", outcome="rejected", reason="invalid_type") == 2

    # without the directory, a process shows only what it counted itself
    alone = {key: value for key, value in env.items() if key != MULTIPROCESS_ENV}
    scrape = parse(run_python(increment + render, alone))
    assert scrape.value("signage_pop_events_total", outcome="accepted", reason="") == 3


def test_metrics_environment_gives_a_fresh_empty_directory_per_call(tmp_path: Path) -> None:
    made: list[str] = []
    try:
        first = metrics_environment("api", {})
        second = metrics_environment("api", {})
        made += [first[MULTIPROCESS_ENV], second[MULTIPROCESS_ENV]]
        assert set(first) == set(second) == {MULTIPROCESS_ENV}
        assert first[MULTIPROCESS_ENV] != second[MULTIPROCESS_ENV]
        for directory in made:
            path = Path(directory)
            assert path.is_dir() and not any(path.iterdir())
            assert path.parent == Path(tempfile.gettempdir())
            assert "api" in path.name

        base = tmp_path / "operator" / "metrics"  # not there yet: created
        (base.parent).mkdir()
        under = [metrics_environment(kind, {MULTIPROCESS_ENV: str(base)}) for kind in ("edge",) * 2]
        dirs = [Path(env[MULTIPROCESS_ENV]) for env in under]
        assert dirs[0] != dirs[1]
        for path in dirs:
            assert path.parent == base
            assert path.is_dir() and not any(path.iterdir())
            assert "edge" in path.name

        # an empty PROMETHEUS_MULTIPROC_DIR means none
        empty = metrics_environment("worker", {MULTIPROCESS_ENV: ""})
        made.append(empty[MULTIPROCESS_ENV])
        assert Path(empty[MULTIPROCESS_ENV]).parent == Path(tempfile.gettempdir())
    finally:
        for directory in made:
            shutil.rmtree(directory, ignore_errors=True)
