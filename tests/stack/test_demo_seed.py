"""The demo seed: complete, stored for real, written once, and never touching a real admin."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from core.clock import FrozenClock
from core.config import Settings
from core.db.engine import create_engine
from core.db.tables import (
    audit_log,
    campaigns,
    content,
    content_versions,
    device_groups,
    playlist_items,
    playlists,
    schedules,
    stores,
    users,
)
from core.errors import ValidationFailed
from core.identity.passwords import hash_password, verify_password
from core.storage.local import LocalStorage
from ops import demo_seed
from ops.demo_seed import (
    DEMO_ADMIN_EMAIL,
    DEV_DEMO_ADMIN_PASSWORD,
    admin_password_is,
    demo_png,
    seed_demo,
)

SEEDED_TABLES = (
    stores,
    device_groups,
    content,
    content_versions,
    campaigns,
    playlists,
    playlist_items,
    schedules,
    users,
)
CLOCK = FrozenClock(datetime(2026, 3, 2, 10, 0, tzinfo=UTC))


@pytest.fixture
async def engine(fresh_database: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(fresh_database, pool_size=2, max_overflow=0)
    yield engine
    await engine.dispose()


@pytest.fixture
def storage(tmp_path: Path) -> LocalStorage:
    settings = Settings.model_validate(
        {"SIGNAGE_ENV": "test", "SIGNAGE_DATA_DIR": str(tmp_path / "data")}
    )
    return LocalStorage.from_settings(settings)


async def counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            table.name: int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            for table in SEEDED_TABLES
        }


async def test_seed_writes_the_whole_demo_once(engine: AsyncEngine, storage: LocalStorage) -> None:
    first = await seed_demo(
        engine, storage=storage, clock=CLOCK, admin_password=DEV_DEMO_ADMIN_PASSWORD
    )
    assert first.created and first.admin_created
    assert await counts(engine) == {table.name: 1 for table in SEEDED_TABLES}

    second = await seed_demo(
        engine, storage=storage, clock=CLOCK, admin_password=DEV_DEMO_ADMIN_PASSWORD
    )
    assert not second.created and not second.admin_created
    assert await counts(engine) == {table.name: 1 for table in SEEDED_TABLES}
    async with engine.connect() as conn:
        seeds = await conn.scalar(select(func.count()).where(audit_log.c.action == "demo.seed"))
    assert seeds == 1


async def test_seeded_rows_are_consistent_and_the_bytes_are_stored(
    engine: AsyncEngine, storage: LocalStorage
) -> None:
    await seed_demo(engine, storage=storage, clock=CLOCK, admin_password=DEV_DEMO_ADMIN_PASSWORD)
    async with engine.connect() as conn:
        store = (await conn.execute(select(stores))).one()
        group = (await conn.execute(select(device_groups))).one()
        version = (await conn.execute(select(content_versions))).one()
        item = (await conn.execute(select(playlist_items))).one()
        schedule = (await conn.execute(select(schedules))).one()
        campaign = (await conn.execute(select(campaigns))).one()
        admin = (await conn.execute(select(users))).one()

    assert store.timezone == "Europe/Berlin"
    assert store.operating_hours_json["mon"] == [{"open": "09:00", "close": "21:00"}]
    assert store.operating_hours_json["sun"] == []
    assert set(store.operating_hours_json) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
    assert group.policy_json["heartbeat_interval_s"] == 60
    assert group.policy_json["offline_threshold_s"] == 180
    assert group.policy_json["storage_cap_bytes"] > 0

    image = demo_png()
    assert image.startswith(b"\x89PNG\r\n\x1a\n")
    assert version.version_number == 1
    assert version.sha256 == hashlib.sha256(image).hexdigest()
    assert version.bytes == len(image)
    assert version.mime == "image/png"
    assert version.url == storage.public_url(version.storage_key)
    assert await storage.read_bytes(version.storage_key) == image

    assert item.content_version_id == version.id
    assert item.playlist_id == group.default_playlist_id
    assert (schedule.target_type, schedule.target_id) == ("GROUP", group.id)
    assert schedule.playlist_id == item.playlist_id
    assert schedule.campaign_id == campaign.id
    assert schedule.rules_json["dayparts"][0]["weekdays"] == [1, 2, 3, 4, 5, 6, 7]
    assert campaign.start_date == CLOCK.now().date() <= campaign.end_date

    assert admin.email == DEMO_ADMIN_EMAIL
    assert admin.role == "ADMIN"
    assert verify_password(admin.password_hash, DEV_DEMO_ADMIN_PASSWORD)
    assert await admin_password_is(engine, DEMO_ADMIN_EMAIL, DEV_DEMO_ADMIN_PASSWORD)


async def test_an_existing_admin_keeps_its_password(
    engine: AsyncEngine, storage: LocalStorage
) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            insert(users).values(
                email=DEMO_ADMIN_EMAIL,
                password_hash=hash_password("the-operators-own-password"),
                role="ADMIN",
            )
        )
    outcome = await seed_demo(
        engine, storage=storage, clock=CLOCK, admin_password=DEV_DEMO_ADMIN_PASSWORD
    )
    assert outcome.created and not outcome.admin_created
    assert not await admin_password_is(engine, DEMO_ADMIN_EMAIL, DEV_DEMO_ADMIN_PASSWORD)
    assert await admin_password_is(engine, DEMO_ADMIN_EMAIL, "the-operators-own-password")
    assert (await counts(engine))["users"] == 1


@pytest.mark.parametrize(
    ("constant", "broken"),
    [
        # Overlapping intervals: the API refuses them for a store.
        (
            "OPENING_HOURS",
            {"mon": [{"open": "09:00", "close": "12:00"}, {"open": "11:00", "close": "13:00"}]},
        ),
        # A daypart ending at 25:00.
        ("SCHEDULE_RULES", {"dayparts": [{"weekdays": [1], "start": "08:00", "end": "25:00"}]}),
        # A threshold shorter than the heartbeat interval.
        (
            "GROUP_POLICY",
            {"heartbeat_interval_s": 60, "offline_threshold_s": 30, "storage_cap_bytes": None},
        ),
        ("DEMO_TIMEZONE", "Mars/Olympus_Mons"),
    ],
)
async def test_a_demo_the_api_would_refuse_is_never_written(
    engine: AsyncEngine,
    storage: LocalStorage,
    monkeypatch: pytest.MonkeyPatch,
    constant: str,
    broken: object,
) -> None:
    """The demo's values go through the API's own validation before anything is written."""
    monkeypatch.setattr(demo_seed, constant, broken)
    with pytest.raises(ValidationFailed):
        await seed_demo(
            engine, storage=storage, clock=CLOCK, admin_password=DEV_DEMO_ADMIN_PASSWORD
        )
    assert await counts(engine) == {table.name: 0 for table in SEEDED_TABLES}


async def test_the_demo_is_stored_as_the_api_normalises_it(
    engine: AsyncEngine, storage: LocalStorage
) -> None:
    await seed_demo(engine, storage=storage, clock=CLOCK, admin_password=DEV_DEMO_ADMIN_PASSWORD)
    async with engine.connect() as conn:
        schedule = (await conn.execute(select(schedules))).one()
        hours = await conn.scalar(select(stores.c.operating_hours_json))
    # Every day present (the API stores a closed day as an empty list) and the rules in the
    # API's canonical JSON.
    assert set(hours) == {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}
    assert schedule.rules_json["dayparts"][0]["start"] == "08:00"
    assert schedule.enabled is True and schedule.target_type == "GROUP"
