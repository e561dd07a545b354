"""The small demo that `signage up` seeds, so a newcomer sees a working fleet model at once.

One store with opening hours and a timezone, one group, one content item with a version whose
bytes are really in object storage, a campaign, a playlist, a schedule, and an admin login.

Users are created through core's user service, like the API's. The programming rows (store,
campaign, content, playlist, group, schedule) are written with fixed ids in the one
transaction that makes the seed idempotent (the core services each commit on their own and
choose their own ids, so routing the writes there would give up that guarantee), but their
values go through the same core validation as the API's first (`_validated_demo`): the
store's timezone and opening hours, the group's policy, the schedule as a whole. A demo that
the API would refuse is never written.

Idempotence: every demo row has a fixed id, and the whole demo is written in one transaction
keyed on the demo store. If that store exists the demo is already there and nothing is written,
so a second `signage up` never duplicates anything, and rows an operator later edits or deletes
are not resurrected behind their back. A transaction-level advisory lock serialises concurrent
seeders.
"""

from __future__ import annotations

import hashlib
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from core.audit.service import record
from core.clock import Clock
from core.content.uploads import version_hash
from core.db.enums import ContentType, Role, TargetType
from core.db.tables import (
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
from core.fleet.opening_hours import validate_opening_hours
from core.fleet.policy import validate_policy
from core.identity.passwords import verify_password
from core.identity.users import insert_user, prepare_new_user
from core.kernel.actor import Actor
from core.schedules.models import ScheduleInput
from core.schedules.validation import validated_values
from core.storage.keys import content_object_key
from core.timezones import validate_timezone
from core.validation import FieldErrors

DEMO_ADMIN_EMAIL = "admin@example.com"
# Dev mode only: documented in the README, refused outside dev mode by the CLI.
DEV_DEMO_ADMIN_PASSWORD = "signage-demo-admin"  # noqa: S105

_NAMESPACE = uuid.UUID("6f1d3c8e-2b7a-4c55-9e0f-5d1a7c3b9e21")
_SEED_LOCK = 0x5167_DE30  # pg_advisory_xact_lock key for "demo seed"


def demo_id(name: str) -> uuid.UUID:
    """The fixed id of one demo row."""
    return uuid.uuid5(_NAMESPACE, name)


STORE_ID = demo_id("store")
GROUP_ID = demo_id("group")
CONTENT_ID = demo_id("content")
VERSION_ID = demo_id("content-version-1")
CAMPAIGN_ID = demo_id("campaign")
PLAYLIST_ID = demo_id("playlist")
SCHEDULE_ID = demo_id("schedule")

OPENING_HOURS: dict[str, list[dict[str, str]]] = {
    **{day: [{"open": "09:00", "close": "21:00"}] for day in ("mon", "tue", "wed", "thu", "fri")},
    "sat": [{"open": "10:00", "close": "18:00"}],
    "sun": [],
}
GROUP_POLICY = {
    "heartbeat_interval_s": 60,
    "offline_threshold_s": 180,
    "storage_cap_bytes": 8 * 1024**3,
}
DEMO_TIMEZONE = "Europe/Berlin"
SCHEDULE_RULES = {
    "dayparts": [{"weekdays": [1, 2, 3, 4, 5, 6, 7], "start": "08:00", "end": "22:00"}]
}
DEMO_IMAGE_DURATION_MS = 10_000


class ContentStore(Protocol):
    """The part of `core.storage.base.ObjectStorage` the seed needs."""

    async def put_bytes(
        self, key: str, data: bytes, *, sha256: str, size: int, content_type: str | None = None
    ) -> Any: ...

    def public_url(self, key: str) -> str: ...


@dataclass(frozen=True)
class SeedOutcome:
    created: bool
    admin_email: str
    admin_created: bool


def demo_png(width: int = 160, height: int = 90) -> bytes:
    """A small, deterministic gradient PNG, so the demo needs no binary file in the repo."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type "none"
        shade = 40 + (180 * y) // max(height - 1, 1)
        rows += bytes((shade // 3, shade // 2, shade)) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )


async def seed_demo(
    engine: AsyncEngine,
    *,
    storage: ContentStore,
    clock: Clock,
    admin_password: str,
    admin_email: str = DEMO_ADMIN_EMAIL,
) -> SeedOutcome:
    """Write the demo unless it is already there; the admin is created if its email is free.

    The admin goes through core's user service (`core.identity.users`): the API's validation
    (ValidationFailed for an unusable email or password), normalization, hashing and audit."""
    admin = await prepare_new_user(admin_email, admin_password)
    admin_email = admin.email
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SEED_LOCK})
        exists = await conn.scalar(select(stores.c.id).where(stores.c.id == STORE_ID))
        if exists is not None:
            return SeedOutcome(created=False, admin_email=admin_email, admin_created=False)
        created_admin = await insert_user(
            conn,
            Actor.system(),
            admin,
            role=Role.ADMIN,
            now=clock.now(),
            details={"via": "demo seed"},
        )
        admin_created = created_admin is not None
        await _insert_demo(conn, storage, clock)
        await record(
            conn,
            Actor.system(),
            action="demo.seed",
            target_type="store",
            target_id=STORE_ID,
            details={"admin_email": admin_email, "admin_created": admin_created},
        )
    return SeedOutcome(created=True, admin_email=admin_email, admin_created=admin_created)


async def admin_password_is(engine: AsyncEngine, email: str, password: str) -> bool:
    """Whether `email` still logs in with `password` (to print the dev credential honestly)."""
    async with engine.connect() as conn:
        stored = await conn.scalar(select(users.c.password_hash).where(users.c.email == email))
    return stored is not None and verify_password(stored, password)


@dataclass(frozen=True)
class _ValidatedDemo:
    timezone: str
    opening_hours: dict[str, Any]
    policy: dict[str, Any]
    schedule: dict[str, Any]


def _validated_demo() -> _ValidatedDemo:
    """The demo's values, checked and normalised by the rules the API applies to the same
    inputs; ValidationFailed if any of them broke a rule."""
    errors = FieldErrors()
    hours = validate_opening_hours(OPENING_HOURS, errors)
    policy = validate_policy(
        errors,
        heartbeat_interval_seconds=GROUP_POLICY["heartbeat_interval_s"],
        offline_threshold_seconds=GROUP_POLICY["offline_threshold_s"],
        storage_cap_bytes=GROUP_POLICY["storage_cap_bytes"],
    )
    errors.raise_if_any()
    schedule = validated_values(
        ScheduleInput(
            target_type=TargetType.GROUP.value,
            target_id=GROUP_ID,
            playlist_id=PLAYLIST_ID,
            name="Demo opening hours",
            campaign_id=CAMPAIGN_ID,
            timezone=None,  # the store's own timezone
            rules=SCHEDULE_RULES,
        )
    )
    return _ValidatedDemo(validate_timezone(DEMO_TIMEZONE), dict(hours), policy.to_json(), schedule)


async def _insert_demo(conn: AsyncConnection, storage: ContentStore, clock: Clock) -> None:
    demo = _validated_demo()
    image = demo_png()
    sha256 = hashlib.sha256(image).hexdigest()
    mime = "image/png"
    key = content_object_key(CONTENT_ID, sha256, mime)
    await storage.put_bytes(key, image, sha256=sha256, size=len(image), content_type=mime)
    today = clock.now().date()

    await conn.execute(
        insert(stores).values(
            id=STORE_ID,
            name="Demo Store Berlin Mitte",
            city="Berlin",
            area="Mitte",
            address="Alexanderplatz 1, 10178 Berlin",
            timezone=demo.timezone,
            operating_hours_json=demo.opening_hours,
        )
    )
    await conn.execute(
        insert(campaigns).values(
            id=CAMPAIGN_ID,
            brand_name="Alive Coffee",
            name="Spring launch",
            start_date=today,
            end_date=today + timedelta(days=365),
        )
    )
    await conn.execute(
        insert(content).values(
            id=CONTENT_ID, name="Welcome slide", type=ContentType.IMAGE.value, tags=["demo"]
        )
    )
    await conn.execute(
        insert(content_versions).values(
            id=VERSION_ID,
            content_id=CONTENT_ID,
            version_number=1,
            version_hash=version_hash(CONTENT_ID, 1, sha256),
            storage_key=key,
            url=storage.public_url(key),
            sha256=sha256,
            bytes=len(image),
            mime=mime,
            duration_ms=DEMO_IMAGE_DURATION_MS,
        )
    )
    await conn.execute(
        insert(playlists).values(id=PLAYLIST_ID, name="Demo loop", campaign_id=CAMPAIGN_ID)
    )
    await conn.execute(
        insert(playlist_items).values(
            id=demo_id("playlist-item-1"),
            playlist_id=PLAYLIST_ID,
            content_id=CONTENT_ID,
            content_version_id=VERSION_ID,
            order_index=0,
            weight=1,
            duration_ms=DEMO_IMAGE_DURATION_MS,
        )
    )
    await conn.execute(
        insert(device_groups).values(
            id=GROUP_ID,
            name="Demo screens",
            policy_json=demo.policy,
            default_playlist_id=PLAYLIST_ID,
        )
    )
    await conn.execute(insert(schedules).values(id=SCHEDULE_ID, **demo.schedule))
