"""`signage simulate` reaches the simulator's own argument parser (in its own process: the
operator's CLI does not import the simulator, another entrypoint)."""

from __future__ import annotations

import subprocess
import sys

from tests.harness import ROOT


def _signage(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_signage_simulate_is_registered() -> None:
    result = _signage("simulate", "--help")
    assert result.returncode == 0, result.stderr
    assert "usage: signage simulate" in result.stdout


def test_signage_simulate_rejects_unknown_options() -> None:
    result = _signage("simulate", "--no-such-option")
    assert result.returncode == 2
    assert "--no-such-option" in result.stderr
