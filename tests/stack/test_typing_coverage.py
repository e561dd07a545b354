"""`mypy --strict` covers every package that is installed, so a new package cannot quietly
start out untyped: `make lint` checks the `[tool.mypy] files` of pyproject.toml."""

from __future__ import annotations

import re
import tomllib

from tests.stack.support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_mypy_checks_every_installed_package() -> None:
    installed = {
        p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    assert set(PYPROJECT["tool"]["mypy"]["files"]) == installed
    assert PYPROJECT["tool"]["mypy"]["strict"] is True


def test_make_lint_runs_mypy_on_the_configured_files() -> None:
    lint = (ROOT / "Makefile").read_text().split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert re.search(r"^\t\$\(BIN\)/mypy --strict$", lint, re.MULTILINE), lint


def test_type_checks_are_relaxed_only_for_strawberry_resolvers() -> None:
    relaxed = [
        o
        for o in PYPROJECT["tool"]["mypy"]["overrides"]
        if set(o) - {"module", "ignore_missing_imports"}
    ]
    assert relaxed == [{"module": ["graphql_api.*"], "disallow_untyped_decorators": False}]
