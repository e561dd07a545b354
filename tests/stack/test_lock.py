"""The lock files against pyproject.toml, offline.

`make venv` and the Dockerfile install only what requirements/*.txt pin, so a dependency added
to pyproject.toml without `make lock` would be missing from every fresh venv and image, and a
bound tightened without it would be ignored. `pip install --require-hashes` catches neither.
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.stack.support import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = [Requirement(r) for r in PYPROJECT["project"]["dependencies"]]
EXTRAS = PYPROJECT["project"]["optional-dependencies"]
EVERYTHING = RUNTIME + [
    Requirement(r) for name in ("dev", "embedded", "otel") for r in EXTRAS[name]
]
LOCK = ROOT / "requirements" / "lock.txt"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.txt"

Pins = dict[str, list[tuple[Version, tuple[str, ...]]]]


def pins(path: Path) -> Pins:
    """name -> [(version, hashes)] of the pins that apply to Python 3.11 here (a universal
    lock can pin one package twice, under exclusive markers)."""
    found: Pins = defaultdict(list)
    for entry in re.split(r"\n(?=\S)", path.read_text()):
        if entry.startswith("#") or not entry.strip():
            continue
        requirement = Requirement(entry.split("\\")[0].strip())
        if requirement.marker is not None and not requirement.marker.evaluate():
            continue
        (spec,) = requirement.specifier
        assert spec.operator == "==", entry
        hashes = tuple(re.findall(r"--hash=(sha256:[0-9a-f]{64})", entry))
        found[canonicalize_name(requirement.name)].append((Version(spec.version), hashes))
    return found


@pytest.mark.parametrize(
    ("lock", "required"), [(LOCK, EVERYTHING), (RUNTIME_LOCK, RUNTIME)], ids=["lock", "runtime"]
)
def test_every_dependency_has_a_pin_within_its_bounds(
    lock: Path, required: list[Requirement]
) -> None:
    pinned = pins(lock)
    unfit = [
        str(r)
        for r in required
        if not any(
            r.specifier.contains(version) for version, _ in pinned[canonicalize_name(r.name)]
        )
    ]
    assert not unfit, f"no fitting pin in {lock.name} (run `make lock`): {unfit}"


def test_every_pin_carries_hashes() -> None:
    for lock in (LOCK, RUNTIME_LOCK):
        unhashed = [name for name, entries in pins(lock).items() if not all(h for _, h in entries)]
        assert not unhashed, f"{lock.name}: {unhashed}"


def test_the_image_gets_the_versions_ci_tested() -> None:
    full = pins(LOCK)
    differing = {name: e for name, e in pins(RUNTIME_LOCK).items() if e != full.get(name)}
    assert not differing, f"runtime.txt differs from lock.txt (run `make lock`): {differing}"


def test_every_major_version_is_capped() -> None:
    """A new major release arrives through `make lock LOCK_ARGS=--upgrade`, on purpose."""
    uncapped = [
        str(r)
        for r in EVERYTHING
        if canonicalize_name(r.name) != "tzdata"  # time-zone data: the newest is the right one
        and not any(spec.operator in ("<", "<=", "==", "~=") for spec in r.specifier)
    ]
    assert not uncapped, f"add an upper bound: {uncapped}"


def test_make_venv_installs_the_lock_and_only_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"pip install (.+)$", makefile, re.MULTILINE)
    assert installs == ["--require-hashes -r $(LOCK)", "--no-deps -e ."], installs
    assert "LOCK := requirements/lock.txt" in makefile
