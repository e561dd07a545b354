"""`signage api`/`edge` as a real process on a free port, with its stderr kept for the test."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import TEST_JWT_KEYS, TEST_STORAGE_SIGNING_SECRET
from tests.outages import closed_port
from tests.stack.support import clean_env, free_port

DB_PASSWORD = "Pg-Secret-Passw0rd-7x"


def server_env(redis_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    """Test-environment settings with PostgreSQL out of reach (a password in its URL):
    /healthz answers, anything needing the database fails."""
    return clean_env(
        {
            "SIGNAGE_ENV": "test",
            "DATABASE_URL": f"postgresql://signage:{DB_PASSWORD}@127.0.0.1:{closed_port()}/x",
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": f"test:{data_dir.name}:",
            "SIGNAGE_DATA_DIR": str(data_dir),
            "JWT_KEYS": TEST_JWT_KEYS,
            "JWT_ACTIVE_KID": "k1",
            "STORAGE_SIGNING_SECRET": TEST_STORAGE_SIGNING_SECRET,
            **settings,
        }
    )


@dataclass
class Server:
    base_url: str
    port: int
    process: subprocess.Popen[bytes]
    stderr_path: Path

    def stop(self) -> str:
        """SIGTERM, wait, and return everything the process wrote to stderr."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.stderr_path.read_text()


@contextmanager
def signage_server(kind: str, env: Mapping[str, str], cwd: Path, *extra: str) -> Iterator[Server]:
    port = free_port()
    port_setting = "API_PORT" if kind == "api" else "EDGE_PORT"
    stderr_path = cwd / f"{kind}-{port}.stderr"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "ops.cli", kind, *extra],
            env={**env, port_setting: str(port)},
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = Server(f"http://127.0.0.1:{port}", port, process, stderr_path)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, stderr_path.read_text()
            assert time.monotonic() < deadline, "no /healthz within 90 s"
            try:
                with urllib.request.urlopen(f"{server.base_url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        yield server
    finally:
        server.stop()
