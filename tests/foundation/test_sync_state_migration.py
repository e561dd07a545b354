"""The device sync-state migration judges existing devices from the data already there."""

from __future__ import annotations

import uuid
from typing import Any

import orjson
from sqlalchemy import text

from core.db.engine import create_engine
from core.db.migrations import upgrade
from tests.harness import DatabaseFactory, run_in_thread

BEFORE = "8b2e4f1c6d90"  # the plan-change outbox, the revision this one follows

CLIP, LOOP = uuid.UUID(int=1), uuid.UUID(int=2)
ITEMS = [
    {"content_id": str(LOOP), "version": 3},
    {"content_id": str(CLIP), "version": 1},
    {"content_id": str(LOOP), "version": 3},  # listed twice (two schedules): one key
]


async def _execute(url: str, statement: str, **params: Any) -> list[Any]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.begin() as conn:
            result = await conn.execute(text(statement), params)
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


async def test_existing_plans_and_devices_are_backfilled(db_factory: DatabaseFactory) -> None:
    url = await db_factory.empty()
    try:
        run_in_thread(lambda: upgrade(url, BEFORE))
        synced, behind, planless = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        await _execute(
            url,
            "INSERT INTO devices (id, status, reported_plan_etag) VALUES "
            "(:synced, 'online', 'e1'), (:behind, 'online', 'e0'), (:planless, 'pending', NULL)",
            synced=synced,
            behind=behind,
            planless=planless,
        )
        await _execute(
            url,
            "INSERT INTO playout_plans (device_id, inputs_hash, etag, plan_json, valid_from, "
            "valid_to, generated_at) "
            "SELECT d, 'h', e, CAST(:plan AS jsonb), now(), now() + interval '3 days', now() "
            "FROM (VALUES (CAST(:synced AS uuid), 'e1'), (CAST(:behind AS uuid), 'e2')) "
            "AS v(d, e)",
            plan=orjson.dumps({"items": ITEMS, "windows": []}).decode(),
            synced=synced,
            behind=behind,
        )

        run_in_thread(lambda: upgrade(url))

        plans = dict(await _execute(url, "SELECT device_id, content_versions FROM playout_plans"))
        assert plans[synced] == plans[behind] == [f"{CLIP}:1", f"{LOOP}:3"]
        states = {
            row.id: (row.sync_state, row.desired_plan_etag, row.reports_content)
            for row in await _execute(
                url, "SELECT id, sync_state, desired_plan_etag, reports_content FROM devices"
            )
        }
        assert states == {
            synced: ("in_sync", "e1", False),
            behind: ("pending", "e2", False),
            planless: ("pending", None, False),
        }
        assert await _execute(url, "SELECT count(*) FROM device_content_reports") == [(0,)]
    finally:
        await db_factory.drop(url)
