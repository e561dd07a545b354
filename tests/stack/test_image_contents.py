"""What the Docker image holds, checked without a Docker engine (none runs here).

A package left out of the Dockerfile's COPY lines fails only when a command imports it inside
the container: `signage simulate` did, because `simulator/` was never copied. These tests lay
out the image's /app from the Dockerfile's own COPY lines and run commands against that copy,
in a throwaway venv that sees the installed third-party packages but not this checkout.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path

import pytest

from tests.stack.support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
PACKAGES = sorted(
    p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
)


def copy_lines() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY, relative to the image's WORKDIR /app."""
    lines = re.findall(r"^COPY\s+(.+)$", DOCKERFILE, re.MULTILINE)
    assert lines and not any(line.startswith("--from") for line in lines)
    return [(parts[:-1], parts[-1]) for parts in (line.split() for line in lines)]


@pytest.fixture(scope="module")
def image_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what the Dockerfile puts in /app, nothing more."""
    app = tmp_path_factory.mktemp("app")
    for sources, destination in copy_lines():
        target = app / destination
        for source in sources:
            path = ROOT / source
            into = target / path.name if destination.endswith("/") else target
            if path.is_dir():
                shutil.copytree(path, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                into.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, into)
    return app


@pytest.fixture(scope="module")
def image_python(image_app: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter with /app installed as the image installs it (`pip install -e .`, here a
    path entry) and this venv's site-packages as a plain path entry: its .pth files, the
    editable install of this checkout among them, are not run."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    (site / "image.pth").write_text(f"{image_app}\n{sysconfig.get_path('purelib')}\n")
    return venv / "bin" / "python"


def run_in_image(python: Path, app: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(app), "SIGNAGE_ENV": "production"}
    return subprocess.run(
        [str(python), *args], cwd="/", env=env, capture_output=True, text=True, timeout=120
    )


def test_every_installed_package_is_copied_into_the_image() -> None:
    copied = {destination.strip("./") for sources, destination in copy_lines()}
    missing = [package for package in PACKAGES if package not in copied]
    assert not missing, f"COPY these packages in the Dockerfile: {missing}"


def test_every_top_level_package_is_installed() -> None:
    """A new package outside pyproject's include list would be left out of the image too."""
    found = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert found <= set(PACKAGES), (
        f"add to [tool.setuptools.packages.find]: {found - set(PACKAGES)}"
    )


@pytest.mark.parametrize("package", PACKAGES)
def test_each_package_imports_in_the_image(
    image_python: Path, image_app: Path, package: str
) -> None:
    done = run_in_image(
        image_python, image_app, "-c", f"import {package}; print({package}.__file__)"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(str(image_app)), done.stdout


def test_signage_simulate_runs_in_the_image(image_python: Path, image_app: Path) -> None:
    module, function = PYPROJECT["project"]["scripts"]["signage"].split(":")
    script = f"import sys; from {module} import {function}; sys.exit({function}())"
    done = run_in_image(image_python, image_app, "-c", script, "simulate", "--help")
    assert done.returncode == 0, done.stderr
    assert "--devices" in done.stdout


def test_image_installs_the_runtime_lock_with_hashes() -> None:
    installs = re.findall(r"pip install ([^\n&\\]+)", DOCKERFILE)
    assert installs[0].split() == ["--require-hashes", "-r", "requirements/runtime.txt"]
    assert installs[-1].split() == ["--no-deps", "-e", "."], "the lock decides every dependency"
    assert any("requirements/runtime.txt" in sources for sources, _ in copy_lines())
