"""`signage create-admin` and the demo seed create users through core's user service
(`core.identity.users`): the API's validation, normalization and audit, not rules of their own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.clock import FrozenClock
from core.config import Settings
from core.db.engine import create_engine
from core.db.enums import Role
from core.db.tables import audit_log, users
from core.identity.users import MAX_PASSWORD_LENGTH
from core.storage.local import LocalStorage
from ops.cli.admin import UserInputError, create_user
from ops.demo_seed import seed_demo

CLOCK = FrozenClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


async def _rows(database_url: str, table: Any) -> list[Any]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(table))).all())
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("email", "password", "reason"),
    [
        ("ops@localhost", "long-enough-1", "email: not a valid email address"),
        ("ops@example.com", "x" * (MAX_PASSWORD_LENGTH + 1), "password: at most"),
    ],
)
async def test_create_admin_applies_the_apis_validation(
    fresh_database: str, email: str, password: str, reason: str
) -> None:
    with pytest.raises(UserInputError, match=reason):
        await create_user(fresh_database, email=email, password=password, role=Role.ADMIN)
    assert await _rows(fresh_database, users) == []


async def test_create_admin_audits_like_the_api(fresh_database: str) -> None:
    created = await create_user(
        fresh_database, email=" Lead@Example.COM", password="long-enough-1", role=Role.OPERATOR
    )
    assert created.email == "lead@example.com"
    [entry] = [row for row in await _rows(fresh_database, audit_log) if row.action == "user.create"]
    assert entry.target_id == str(created.id)
    after = entry.details_json["after"]
    assert (after["email"], after["role"]) == ("lead@example.com", "OPERATOR")
    assert "password_hash" not in after
    assert entry.details_json["via"] == "signage create-admin"


async def test_the_demo_admin_is_created_and_audited_by_core(
    fresh_database: str, tmp_path: Path
) -> None:
    settings = Settings.model_validate(
        {"SIGNAGE_ENV": "test", "SIGNAGE_DATA_DIR": str(tmp_path / "data")}
    )
    engine = create_engine(fresh_database, pool_size=1, max_overflow=0)
    try:
        outcome = await seed_demo(
            engine,
            storage=LocalStorage.from_settings(settings),
            clock=CLOCK,
            admin_password="the-demo-password",
            admin_email="Demo.Admin@Example.com",
        )
    finally:
        await engine.dispose()
    assert outcome.admin_created and outcome.admin_email == "demo.admin@example.com"
    [user] = await _rows(fresh_database, users)
    assert user.email == "demo.admin@example.com"
    assert user.created_at == CLOCK.now()
    [entry] = [row for row in await _rows(fresh_database, audit_log) if row.action == "user.create"]
    assert entry.target_id == str(user.id)
    assert entry.details_json["via"] == "demo seed"
    assert entry.details_json["after"]["role"] == "ADMIN"
