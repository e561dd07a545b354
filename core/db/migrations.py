"""Running Alembic from code: `signage migrate`, the test harness and readiness checks."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

from core.db.engine import async_url

ROOT = Path(__file__).resolve().parents[2]

# Partitions of the raw proof-of-play log are created and dropped at run time, not by
# migrations, so autogenerate must not see them as tables to remove.
_RUNTIME_TABLE = re.compile(r"^proof_of_play_events_(default|p\d{6})$")


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    return not (type_ == "table" and name is not None and bool(_RUNTIME_TABLE.match(name)))


def alembic_config(database_url: str | None = None) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    if database_url:
        cfg.set_main_option("sqlalchemy.url", async_url(database_url).replace("%", "%%"))
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
