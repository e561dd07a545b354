"""The README's configuration table must list every setting, and only real ones."""

from __future__ import annotations

import re

from tests.stack.support import ROOT, SETTINGS_ALIASES


def table_variables() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", section, re.MULTILINE))


def test_every_setting_is_documented() -> None:
    missing = SETTINGS_ALIASES - table_variables()
    assert not missing, f"add these settings to the README configuration table: {sorted(missing)}"


def test_the_table_documents_no_stale_setting() -> None:
    stale = table_variables() - SETTINGS_ALIASES
    assert not stale, f"the README documents settings that no longer exist: {sorted(stale)}"


def test_every_dependency_is_explained() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    readme = (ROOT / "README.md").read_text()
    explained = readme.split("## Why each dependency is there", 1)[1].split("\n## ", 1)[0]
    names = re.findall(r'^\s+"([A-Za-z0-9_.\-]+)(?:\[[^\]]*\])?[<>=!~ ]', pyproject, re.MULTILINE)
    names += re.findall(r'^\s+"([A-Za-z0-9_.\-]+)",?$', pyproject, re.MULTILINE)
    assert len(names) > 20
    missing = [name for name in names if f"`{name}" not in explained]
    assert not missing, f"explain these dependencies in the README: {missing}"
