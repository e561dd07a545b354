"""The application as separate OS processes, started the way containers start them.

Each of `api`, `edge`, `worker` and `scheduler` is the command line `signage <kind>` runs
(`ops.cli.processes.process_argv`), in its own session, with its output in a log file of
its own. The suite can then do to one process what a crash or an orchestrator does: SIGKILL
its whole process group (the Dramatiq worker's forked children included) and start it again.

The settings come from the environment built here, and only from it: every setting the
suite's own shell may export is dropped first, so a developer's DATABASE_URL can never point
a fault at a real database.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from core.config import Settings
from ops.cli.processes import _die_with_parent, metrics_environment, process_argv

ROOT = Path(__file__).resolve().parents[1]
KINDS = ("api", "edge", "worker", "scheduler")
HTTP_KINDS = ("api", "edge")
KEY_PREFIX = "faults:"
ADMIN_EMAIL = "faults@example.com"
WORKER_ARGS = ["--processes", "1", "--threads", "2", "--worker-shutdown-timeout", "10000"]

# Plan propagation set to short intervals, so that the suite can wait for the documented
# bound within a fault's run; applied only for the settings this checkout has.
PLAN_SETTINGS = {
    "PLAN_OUTBOX_RELAY_EVERY_S": "5",
    "PLAN_OUTBOX_REDISPATCH_S": "10",
    "PLAN_RECONCILE_EVERY_S": "20",
    "PLAN_RECONCILE_DEVICES": "100000",
}
SETTING_NAMES = frozenset(
    field.alias for field in Settings.model_fields.values() if field.alias is not None
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def settings_env(
    database_url: str, redis_url: str, data_dir: Path, api_port: int, edge_port: int
) -> dict[str, str]:
    """Production settings with fresh secrets: the processes refuse nothing and use no dev
    shortcut, as in a real deployment."""
    values = {
        "SIGNAGE_ENV": "production",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": KEY_PREFIX,
        "SIGNAGE_DATA_DIR": str(data_dir),
        "API_PORT": str(api_port),
        "EDGE_PORT": str(edge_port),
        "PUBLIC_API_URL": f"http://127.0.0.1:{api_port}",
        "PUBLIC_EDGE_URL": f"http://127.0.0.1:{edge_port}",
        "JWT_KEYS": json.dumps({"faults": secrets.token_urlsafe(32)}),
        "JWT_ACTIVE_KID": "faults",
        "STORAGE_SIGNING_SECRET": secrets.token_urlsafe(32),
        # Each process's metrics listener on a port of this stack's own (docs/metrics.md).
        **{f"METRICS_{kind.upper()}_PORT": str(free_port()) for kind in KINDS},
    }
    values.update({name: value for name, value in PLAN_SETTINGS.items() if name in SETTING_NAMES})
    return values


def process_env(settings: dict[str, str]) -> dict[str, str]:
    """The suite's environment minus every setting it may carry, plus `settings`."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTING_NAMES and key not in ("SIGNAGE_BROKER", "PYTHONPATH")
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class AppProcess:
    kind: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    _log: IO[bytes] | None = None

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"{self.kind} is already running")
        self._close_log()
        self._log = self.log_path.open("ab")
        self._log.write(f"\n=== faults: start {self.kind} at {time.time():.3f}\n".encode())
        self._log.flush()
        self.process = subprocess.Popen(  # noqa: S603 - argv from process_argv
            self.argv,
            env=self.env,
            cwd=self.log_path.parent,  # no stray .env is read
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_die_with_parent(),  # the suite dies, the stack dies with it
        )
        self.starts += 1

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def kill9(self) -> None:
        """SIGKILL the whole process group at once: no shutdown code runs anywhere."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGTERM, wait, SIGKILL what is left; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            # The leader only: it stops its own children (Dramatiq treats a second SIGTERM to
            # a worker process as "kill it now").
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout_s)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # forked helpers that outlived it
        code = self.process.wait()
        self._close_log()
        return code

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


@dataclass
class Stack:
    """The four processes on the cluster's servers, with an admin account for the console."""

    work_dir: Path
    database_url: str
    redis_url: str
    api_port: int = field(default_factory=free_port)
    edge_port: int = field(default_factory=free_port)
    admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    settings: dict[str, str] = field(init=False)
    env: dict[str, str] = field(init=False)
    processes: dict[str, AppProcess] = field(init=False)

    def __post_init__(self) -> None:
        self.settings = settings_env(
            self.database_url, self.redis_url, self.work_dir / "data", self.api_port, self.edge_port
        )
        self.env = process_env(self.settings)
        parsed = Settings.model_validate(self.settings)
        self.processes = {
            kind: AppProcess(
                kind,
                process_argv(kind, parsed, WORKER_ARGS if kind == "worker" else ()),
                # As `signage up` runs them: one metrics directory per kind.
                {**self.env, **metrics_environment(kind, self.env)},
                self.work_dir / f"{kind}.log",
            )
            for kind in KINDS
        }

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def edge_url(self) -> str:
        return f"http://127.0.0.1:{self.edge_port}"

    def base_url(self, kind: str) -> str:
        return self.api_url if kind == "api" else self.edge_url

    def cli(self, *args: str, stdin: str | None = None) -> None:
        """`signage ARGS` against this stack's settings; raises with its output on failure."""
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [sys.executable, "-m", "ops.cli", *args],
            env=self.env,
            cwd=self.work_dir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"signage {args[0]} failed:\n{done.stdout}\n{done.stderr}")

    def prepare(self) -> None:
        """Migrate the database and create the console account the simulator logs in with."""
        (self.work_dir / "data").mkdir(parents=True, exist_ok=True)
        self.cli("migrate")
        self.cli(
            "create-admin", "--email", ADMIN_EMAIL, "--password-stdin", stdin=self.admin_password
        )

    def start(self) -> None:
        for process in self.processes.values():
            process.start()
        self.wait_ready()

    def ready(self) -> bool:
        return all(http_ok(f"{self.base_url(kind)}/readyz") for kind in HTTP_KINDS)

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not self.ready():
            dead = [p.kind for p in self.processes.values() if not p.alive]
            if dead:
                raise RuntimeError(f"{', '.join(dead)} exited; see the logs in {self.work_dir}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack is not ready after {timeout_s:.0f}s")
            time.sleep(0.2)

    def stop(self) -> dict[str, int | None]:
        return {kind: self.processes[kind].stop() for kind in reversed(KINDS)}
