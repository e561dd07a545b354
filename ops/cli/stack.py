"""`signage up`: the whole stack in one command, for development and demos.

Order matters: resolve PostgreSQL and Redis (configured or embedded), migrate, seed the demo,
start the four processes, wait until both HTTP edges report ready, then supervise. Shutdown
runs in reverse: the processes first, then the embedded servers they depend on.

Supervising: a process that exits stops the whole stack (exit 1). An embedded server that
dies is restarted in place instead (`ops.embedded.watch`), because the processes ride out a
database or Redis outage and reconnect; only a server that cannot be kept up stops the
stack. If `signage up` itself is killed, its processes get SIGTERM from the kernel
(`ops.cli.processes`); embedded servers it leaves behind are taken over by the next start.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING

from core.config import Settings
from core.redaction import mask_url_password
from ops.cli.infra import ResolvedServices, resolve
from ops.cli.processes import Supervisor, process_argv, stopped_cleanly

if TYPE_CHECKING:
    from ops.embedded.watch import EmbeddedWatch

READY_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class UpOptions:
    seed: bool | None = None  # None: seed in dev/test, not in production
    worker_processes: int = 1
    worker_threads: int = 2


class _StopRequested:
    """Signals only set a flag, so start-up and shutdown are never interrupted halfway."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name = ""

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()


def run_up(settings: Settings, options: UpOptions) -> int:
    stop = _StopRequested()
    stop.install()
    _check_ports_free(settings)
    services = resolve(settings)
    try:
        return _run_with_services(settings, options, services, stop)
    finally:
        if services.embedded:
            print(f"signage: stopping embedded {' and '.join(reversed(services.embedded))}")
        services.stop()


def _run_with_services(
    settings: Settings, options: UpOptions, services: ResolvedServices, stop: _StopRequested
) -> int:
    from core.db.migrations import upgrade

    print(f"signage: PostgreSQL {mask_url_password(services.database_url)}")
    print(f"signage: Redis      {mask_url_password(services.redis_url)}")
    upgrade(services.database_url)
    print("signage: migrations at head")
    if stop.event.is_set():
        return 0
    credential = _seed(settings, services) if _should_seed(settings, options) else None
    if stop.event.is_set():
        return 0

    env = _child_env(settings, services)
    supervisor = Supervisor(env)
    try:
        for kind in ("api", "edge", "worker", "scheduler"):
            extra: list[str] = []
            if kind == "worker":
                extra = ["--processes", str(options.worker_processes)]
                extra += ["--threads", str(options.worker_threads)]
                extra += ["--worker-shutdown-timeout", "10000"]
            child = supervisor.start(kind, process_argv(kind, settings, extra))
            print(f"signage: started {kind} (pid {child.pid})", flush=True)
        watch = services.watch(say=lambda line: print(f"signage: {line}", flush=True))
        return _supervise(settings, supervisor, watch, stop, credential)
    finally:
        codes = supervisor.stop_all()
        if codes:
            summary = ", ".join(
                name if stopped_cleanly(code) else f"{name} (exit {code})"
                for name, code in codes.items()
            )
            print(f"signage: stopped {summary}", flush=True)


def _supervise(
    settings: Settings,
    supervisor: Supervisor,
    watch: EmbeddedWatch,
    stop: _StopRequested,
    credential: str | None,
) -> int:
    ready_deadline = time.monotonic() + READY_TIMEOUT_S
    announced = False
    while not stop.event.is_set():
        dead = supervisor.first_exited()
        if dead is not None:
            print(f"signage: {dead.name} exited with {dead.process.returncode}; stopping the stack")
            return 1
        trouble = watch.check()
        if trouble is not None:
            print(f"signage: {trouble}; stopping the stack", flush=True)
            return 1
        if not announced and _ready(settings):
            _announce(settings, credential)
            announced = True
        elif not announced and time.monotonic() > ready_deadline:
            print(f"signage: warning: /readyz not answering 200 after {READY_TIMEOUT_S:.0f}s")
            ready_deadline = float("inf")
        stop.event.wait(0.5)
    print(f"signage: {stop.signal_name or 'stop'} received; stopping the stack", flush=True)
    return 0


def _should_seed(settings: Settings, options: UpOptions) -> bool:
    return settings.is_dev if options.seed is None else options.seed


def _seed(settings: Settings, services: ResolvedServices) -> str | None:
    """Seed the demo; return the admin credential line to print, if we know it."""
    from core.clock import SystemClock
    from core.db.engine import create_engine
    from ops.demo_seed import DEV_DEMO_ADMIN_PASSWORD, admin_password_is, seed_demo

    password = DEV_DEMO_ADMIN_PASSWORD if settings.is_dev else secrets.token_urlsafe(18)

    async def seed() -> str | None:
        from core.storage.factory import create_storage

        engine = create_engine(services.database_url, pool_size=1, max_overflow=0)
        storage = create_storage(settings)
        try:
            ensure_bucket = getattr(storage, "ensure_bucket", None)
            if settings.is_dev and ensure_bucket is not None:
                await (
                    ensure_bucket()
                )  # a dev MinIO starts empty; production buckets are provisioned
            outcome = await seed_demo(
                engine, storage=storage, clock=SystemClock(), admin_password=password
            )
            email = outcome.admin_email
            if outcome.created:
                print("signage: demo data seeded")
            else:
                print("signage: demo data already present")
            if outcome.admin_created or (
                settings.is_dev and await admin_password_is(engine, email, password)
            ):
                return f"{email} / {password}"
            return f"{email} (password unchanged since it was created)"
        finally:
            await storage.aclose()
            await engine.dispose()

    return asyncio.run(seed())


def _child_env(settings: Settings, services: ResolvedServices) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "SIGNAGE_DATA_DIR": str(settings.data_dir.resolve()),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _local(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


def _ready(settings: Settings) -> bool:
    for host, port in (
        (settings.api_host, settings.api_port),
        (settings.edge_host, settings.edge_port),
    ):
        url = f"http://{_local(host)}:{port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status != 200:
                    return False
        except (urllib.error.URLError, OSError):
            return False
    return True


def _check_ports_free(settings: Settings) -> None:
    for name, host, port in (
        ("API_PORT", settings.api_host, settings.api_port),
        ("EDGE_PORT", settings.edge_host, settings.edge_port),
    ):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((_local(host), port))
            except OSError as exc:
                raise PortInUse(f"{name} {port} on {host} is in use ({exc.strerror})") from exc


class PortInUse(RuntimeError):
    pass


def _announce(settings: Settings, credential: str | None) -> None:
    api = f"http://{_local(settings.api_host)}:{settings.api_port}"
    edge = f"http://{_local(settings.edge_host)}:{settings.edge_port}"
    lines = [
        "",
        "alive-signage is up. Ctrl-C stops everything.",
        f"  GraphiQL (admin API)  {api}/graphql",
        f"  device edge           {edge}/v1/device",
        f"  health                {api}/healthz  {api}/readyz  {edge}/readyz",
    ]
    lines += metrics_lines(settings)
    if credential:
        lines.append(f"  demo admin login      {credential}")
    print("\n".join(lines) + "\n", flush=True)


def metrics_lines(settings: Settings) -> list[str]:
    """Where each process serves its Prometheus metrics (docs/metrics.md)."""
    if not settings.metrics_enabled:
        return ["  metrics               off (METRICS_ENABLED=false)"]
    host = _local(settings.metrics_host)
    served = [
        f"{kind} http://{host}:{settings.metrics_port(kind)}/metrics"
        for kind in ("api", "edge", "worker", "scheduler")
        if settings.metrics_port(kind)
    ]
    lines = [f"  metrics (Prometheus)  {'  '.join(served[:2])}"]
    if served[2:]:
        lines.append(f"                        {'  '.join(served[2:])}")
    if settings.metrics_token is not None:
        lines.append("                        (Authorization: Bearer $METRICS_TOKEN)")
    return lines
