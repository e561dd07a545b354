"""Helpers for the stack tests: a clean environment for `signage` subprocesses, free ports."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_ALIASES = frozenset(
    field.alias for field in Settings.model_fields.values() if field.alias is not None
)


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The inherited environment minus every setting, test URL and the stub-broker switch.

    The subprocess then sees exactly the settings a test gives it, whatever the developer's
    shell exports, and imports this checkout through PYTHONPATH.
    """
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in SETTINGS_ALIASES
        and not key.startswith("TEST_")
        and key not in ("SIGNAGE_BROKER", "PYTHONPATH")
    }
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra or {})
    return env


def run_cli(
    *args: str,
    env: Mapping[str, str],
    cwd: Path,
    stdin: str | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """`signage ARGS` in a fresh interpreter (cwd outside the repo, so no stray .env is read)."""
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        env=dict(env),
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
