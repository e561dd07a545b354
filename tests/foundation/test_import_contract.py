"""The dependency rule is a test: `lint-imports` checks the contracts in pyproject.toml.

- `core` imports no transport (graphql_api, device_edge, http_common, queueing), no entrypoint
  (workers, ops, simulator, faults) and no framework (Starlette, Strawberry, Dramatiq, uvicorn);
- no entrypoint imports another; the fault harness and the shared adapters import none;
- the packages and modules directly inside `core` (and inside each of them) form no cycles.

The second test runs the same contracts on a small tree that breaks each rule, so a contract
that silently stopped matching anything (a renamed package, a typo) fails here too.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.harness import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(cwd: Path, *, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_code_keeps_every_import_contract() -> None:
    result = _lint_imports(ROOT, pythonpath=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _write(root: Path, module: str, source: str = "") -> None:
    path = root.joinpath(*module.split("."))
    path.mkdir(parents=True, exist_ok=True)
    (path / "__init__.py").write_text(source)


def test_the_contracts_catch_each_kind_of_violation(tmp_path: Path) -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    for package in config["root_packages"]:
        _write(tmp_path, package)
    _write(tmp_path, "core.a", "import core.b\nimport workers\nimport dramatiq\n")
    _write(tmp_path, "core.b", "import core.a\n")
    _write(tmp_path, "graphql_api.app", "import workers\n")
    _write(tmp_path, "queueing.sink", "import ops\n")
    _write(tmp_path, "faults.stack", "import device_edge\n")
    (tmp_path / "pyproject.toml").write_text((ROOT / "pyproject.toml").read_text())

    result = _lint_imports(tmp_path, pythonpath=tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout
    for expected in (
        "core is not allowed to import workers",
        "core is not allowed to import dramatiq",
        "graphql_api is not allowed to import workers",
        "queueing is not allowed to import ops",
        "faults is not allowed to import device_edge",
        "No cycles are allowed in core",
    ):
        assert expected in output, output
