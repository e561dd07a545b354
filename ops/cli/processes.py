"""The stack's long-running processes: how each one is started, and a small supervisor.

The CLI never imports the apps (Starlette, Strawberry, Dramatiq): it starts them by module
name, so `signage` stays light and every process gets a clean interpreter.

Each child runs in its own session. A Ctrl-C in the terminal therefore reaches only
`signage up`, which then stops the children in order and waits for them, instead of every
process receiving SIGINT at once while the databases shut down underneath them. Stopping a
child also sweeps its whole process group, so the Dramatiq worker's forked processes cannot
outlive it; and should the worker's leader be killed outright, its worker processes stop by
themselves (`workers.leader_watch`).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from core.config import Settings

_PR_SET_PDEATHSIG = 1

# uvicorn's --log-config: hands every uvicorn process to http_common.process's logging hook.
UVICORN_LOG_CONFIG = Path(__file__).resolve().parents[2] / "http_common" / "uvicorn_logging.json"

# prometheus-client's variable for its multiprocess mode (`telemetry.exposition`).
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

APP_FACTORIES = {
    "api": "graphql_api.app:create_app",
    "edge": "device_edge.app:create_app",
}


def process_argv(kind: str, settings: Settings, extra: Sequence[str] = ()) -> list[str]:
    """The command line of one process kind: api, edge, worker or scheduler."""
    python = sys.executable
    if kind in APP_FACTORIES:
        host, port = (
            (settings.api_host, settings.api_port)
            if kind == "api"
            else (settings.edge_host, settings.edge_port)
        )
        argv = [python, "-m", "uvicorn", "--factory", APP_FACTORIES[kind]]
        # "--lifespan on": a failing start-up (bad settings) exits instead of serving errors.
        # No access log: one line per heartbeat costs edge CPU; structlog logs what matters.
        argv += ["--host", host, "--port", str(port), "--lifespan", "on", "--no-access-log"]
        # X-Forwarded-For is the apps' business (TRUSTED_PROXIES, http_common.forwarded):
        # uvicorn's own handling would trust 127.0.0.1 before the app, whatever the setting.
        argv += ["--no-proxy-headers"]
        # Our logging in every uvicorn process, a `--workers` supervisor included.
        argv += ["--log-config", str(UVICORN_LOG_CONFIG)]
        # Request limits (HTTP_* settings): uvicorn bounds keep-alive and concurrency (503);
        # the protocol bounds the head (431) and how long a request may take to arrive (408).
        argv += ["--http", "http_common.server:LimitedHttpToolsProtocol"]
        argv += ["--h11-max-incomplete-event-size", str(settings.http_max_header_bytes)]
        argv += ["--timeout-keep-alive", str(settings.http_keep_alive_timeout_s)]
        argv += ["--limit-concurrency", str(settings.http_max_concurrency)]
    elif kind == "worker":
        # Dramatiq's command line behind our logging set-up (workers.dramatiq_main).
        argv = [python, "-m", "workers.dramatiq_main", "workers.actors"]
    elif kind == "scheduler":
        argv = [python, "-m", "workers.scheduler"]
    else:
        raise ValueError(f"unknown process kind {kind!r}")
    return [*argv, *extra]


def metrics_environment(kind: str, env: Mapping[str, str]) -> dict[str, str]:
    """PROMETHEUS_MULTIPROC_DIR for one process of `kind`: a new, empty directory of its own
    (under the operator's PROMETHEUS_MULTIPROC_DIR if set, else the system's temporary
    directory). Every process of the kind (uvicorn's workers, Dramatiq's) inherits it and
    writes its figures there; a fresh one per start, so no dead process's figures from an
    earlier run are summed in (`telemetry.exposition`)."""
    base = env.get(MULTIPROCESS_ENV) or None
    if base is not None:
        Path(base).mkdir(parents=True, exist_ok=True)
    return {MULTIPROCESS_ENV: tempfile.mkdtemp(prefix=f"signage-metrics-{kind}-", dir=base)}


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    metrics_dir: str | None = None

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class Supervisor:
    env: Mapping[str, str]
    children: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: list[str]) -> Child:
        metrics = metrics_environment(name, self.env)
        process = subprocess.Popen(  # noqa: S603 - argv is built by process_argv
            argv,
            env={**self.env, **metrics},
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # safe: no other threads run while we spawn
        )
        child = Child(name, argv, process, metrics[MULTIPROCESS_ENV])
        self.children.append(child)
        return child

    def first_exited(self) -> Child | None:
        for child in self.children:
            if child.process.poll() is not None:
                return child
        return None

    def stop_all(self, timeout_s: float = 20.0) -> dict[str, int]:
        """SIGTERM everyone (last started first), wait, then kill stragglers; exit codes."""
        for child in reversed(self.children):
            if child.process.poll() is None:
                _signal_quietly(child.process, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        codes: dict[str, int] = {}
        for child in reversed(self.children):
            remaining = max(deadline - time.monotonic(), 0.1)
            try:
                codes[child.name] = child.process.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                print(f"signage: {child.name} did not stop in {timeout_s:.0f}s; killing it")
                _kill_group(child.pid)
                codes[child.name] = child.process.wait()
            _kill_group(child.pid)  # forked helpers that outlived their leader
            if child.metrics_dir is not None:
                shutil.rmtree(child.metrics_dir, ignore_errors=True)
        self.children.clear()
        return codes


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, ask the kernel to SIGTERM the child if `signage up` itself is killed -9.

    The children live in their own sessions, so without this a killed supervisor would leave
    them serving on their ports. libc is resolved here, before fork; the returned function runs
    in the child between fork and exec and only makes async-signal-safe calls.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)

    return arm


def stopped_cleanly(code: int) -> bool:
    """0, or death by the SIGTERM we sent (uvicorn re-raises it after a graceful shutdown)."""
    return code in (0, -signal.SIGTERM)


def _signal_quietly(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(sig)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)
