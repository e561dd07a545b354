"""What a device could have played, and the check that holds every uploaded play to it.

A device can only add plays to what it could have played: an event names a playlist, a
content version and, optionally, a campaign and a schedule, and those must be the
(playlist, content, version, campaign, schedule) of an item of some plan stored for this
device. Otherwise a device token could report plays for any campaign id it invents, and they
would show up in that campaign's report.

Why the plans, and not the catalog as it stands: a player offline for weeks plays the plan it
has, and the playlist item, schedule or campaign may have been edited or deleted meanwhile.
Its plays are still real. So every plan written (core.plans.service.write_plans) records its
items as a *grant set* (keyed by a hash of the items, so the daily roll of an unchanged plan
and devices sharing a plan share one set), and each device keeps its history of sets, each
marked superseded when a plan with another set replaces it.

A missing `campaign_id` or `schedule_id` in an event matches any (the play is then counted
under no campaign, which takes nothing from a campaign's report); present ones must match the
same plan item. The content version must match too, so the content-duration rule cannot be
escaped by naming a version that does not exist.

When a tuple is not granted, the catalog says why (`RejectCode`): an id that does not exist
(`unknown_*`), ids that exist but do not belong together (`mismatched_references`: the
content is not in the playlist, the schedule plays another playlist, the campaign is neither
the schedule's nor the playlist's), or a consistent combination that was never in this
device's plans (`not_scheduled`). That diagnosis costs a second query, only for batches with
refused tuples.

Cost: the check is one statement per batch over the batch's distinct tuples (usually a
handful), merged with the lookup of video durations the duration rule needs.

Retention: a set superseded at X was last in a plan written no later than X, whose horizon
ends at most `horizon.LENGTH` later, after which the player has nothing of it to play. So
once X + LENGTH is older than the backdating limit (plus a day for clocks), any play of it
is refused as too old anyway and the grant can be pruned (`prune_grants`, from partition
maintenance). Sets no device refers to any more are pruned with it.

Concurrency: recording takes a shared advisory lock, pruning the exclusive one, so a set is
never pruned between a plan finding it already stored and its grant committing.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.enums import ContentType
from core.proof_of_play.models import RejectCode
from core.scheduling.horizon import LENGTH as PLAN_HORIZON

NIL = "00000000-0000-0000-0000-000000000000"
_LOCK_KEY = 0x706F7032  # "pop2": recording (shared) vs pruning (exclusive) of grants
# A margin for players whose clock runs ahead of the server.
_CLOCK_MARGIN = timedelta(days=1)

# (playlist_id, content_id, content_version, campaign_id or NIL, schedule_id or NIL)
GrantItem = tuple[str, str, int, str, str]
# What an event names: (playlist_id, content_id, content_version, campaign_id, schedule_id),
# ids as sent (PostgreSQL compares them as uuids), campaign and schedule possibly None.
Reference = tuple[str, str, int, str | None, str | None]


@dataclass(frozen=True, slots=True)
class GrantSet:
    set_hash: str
    items: tuple[GrantItem, ...]


def grant_set(plan: Mapping[str, Any]) -> GrantSet:
    """The grant set of a plan body (core.scheduling.plan): its items' references."""
    items = sorted(
        {
            (
                str(item["playlist_id"]),
                str(item["content_id"]),
                int(item["version"]),
                str(item.get("campaign_id") or NIL),
                str(item.get("schedule_id") or NIL),
            )
            for item in plan.get("items", ())
        }
    )
    digest = hashlib.sha256(orjson.dumps(items)).hexdigest()[:32]
    return GrantSet(f"items:{digest}", tuple(items))


_RECORD = text(
    """
    WITH new_items AS (
        INSERT INTO proof_of_play_grant_items
            (set_hash, playlist_id, content_id, content_version, campaign_id, schedule_id)
        SELECT * FROM unnest(
            CAST(:set_hashes AS text[]), CAST(:playlists AS uuid[]), CAST(:contents AS uuid[]),
            CAST(:versions AS int[]), CAST(:campaigns AS uuid[]), CAST(:schedules AS uuid[])
        )
        ON CONFLICT DO NOTHING
    ),
    target AS (
        SELECT t.device_id, t.set_hash
        FROM unnest(CAST(:device_ids AS uuid[]), CAST(:device_sets AS text[]))
             AS t(device_id, set_hash)
        WHERE NOT EXISTS (
            SELECT 1 FROM proof_of_play_device_grants g
            WHERE g.device_id = t.device_id AND g.set_hash = t.set_hash
              AND g.superseded_at IS NULL
        )
    ),
    superseded AS (
        UPDATE proof_of_play_device_grants g SET superseded_at = CAST(:now AS timestamptz)
        FROM target t
        WHERE g.device_id = t.device_id AND g.set_hash <> t.set_hash AND g.superseded_at IS NULL
    )
    INSERT INTO proof_of_play_device_grants AS g (device_id, set_hash, granted_at)
    SELECT device_id, set_hash, CAST(:now AS timestamptz) FROM target ORDER BY device_id
    ON CONFLICT (device_id, set_hash) DO UPDATE SET superseded_at = NULL
    """
)


async def record_grants(
    conn: AsyncConnection, assignments: Mapping[uuid.UUID, GrantSet], now: datetime
) -> None:
    """Record that each device was given its plan's set, in the caller's transaction.

    Two statements whatever the number of devices; devices whose current set is already
    this one write nothing (the daily roll of an unchanged plan costs index lookups only).
    """
    if not assignments:
        return
    sets: dict[str, GrantSet] = {}
    device_ids: list[uuid.UUID] = []
    device_sets: list[str] = []
    for device_id in sorted(assignments):
        grant = assignments[device_id]
        sets.setdefault(grant.set_hash, grant)
        device_ids.append(device_id)
        device_sets.append(grant.set_hash)
    rows = [(s.set_hash, *item) for s in sets.values() for item in s.items]
    rows.sort()  # one lock order for concurrent writers
    columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)] or [[]] * 6
    await conn.execute(text("SELECT pg_advisory_xact_lock_shared(:key)"), {"key": _LOCK_KEY})
    await conn.execute(
        _RECORD,
        {
            "set_hashes": columns[0],
            "playlists": columns[1],
            "contents": columns[2],
            "versions": columns[3],
            "campaigns": columns[4],
            "schedules": columns[5],
            "device_ids": device_ids,
            "device_sets": device_sets,
            "now": now,
        },
    )


def grant_cutoff(now: datetime, backdate_days: int) -> datetime:
    """Grants superseded before this can no longer vouch for any acceptable play."""
    return now - timedelta(days=backdate_days) - PLAN_HORIZON - _CLOCK_MARGIN


async def prune_grants(conn: AsyncConnection, now: datetime, backdate_days: int) -> int:
    """Drop grants past use (see the module docstring) and sets no device refers to any more.
    Returns how many device grants were dropped."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
    dropped = await conn.execute(
        text("DELETE FROM proof_of_play_device_grants WHERE superseded_at < :cutoff"),
        {"cutoff": grant_cutoff(now, backdate_days)},
    )
    await conn.execute(
        text(
            "DELETE FROM proof_of_play_grant_items i WHERE NOT EXISTS ("
            "SELECT 1 FROM proof_of_play_device_grants g WHERE g.set_hash = i.set_hash)"
        )
    )
    return int(dropped.rowcount or 0)


# --- the check at ingest ----------------------------------------------------------------------

_WANTED = """
    SELECT * FROM unnest(
        CAST(:playlists AS uuid[]), CAST(:contents AS uuid[]), CAST(:versions AS int[]),
        CAST(:campaigns AS uuid[]), CAST(:schedules AS uuid[])
    ) WITH ORDINALITY AS w(playlist_id, content_id, version, campaign_id, schedule_id, idx)
"""

_CHECK = text(
    f"""
    WITH wanted AS ({_WANTED})
    SELECT w.idx,
           EXISTS (
               SELECT 1
               FROM proof_of_play_device_grants g
               JOIN proof_of_play_grant_items i ON i.set_hash = g.set_hash
               WHERE g.device_id = CAST(:device_id AS uuid)
                 AND i.playlist_id = w.playlist_id AND i.content_id = w.content_id
                 AND i.content_version = w.version
                 AND (w.campaign_id IS NULL OR i.campaign_id = w.campaign_id)
                 AND (w.schedule_id IS NULL OR i.schedule_id = w.schedule_id)
           ) AS granted,
           (
               SELECT cv.duration_ms
               FROM content_versions cv JOIN content c ON c.id = cv.content_id
               WHERE cv.content_id = w.content_id AND cv.version_number = w.version
                 AND c.type = '{ContentType.VIDEO.value}'
           ) AS video_duration_ms
    FROM wanted w
    """  # noqa: S608 - composed from constants, never from input
)

_DIAGNOSE = text(
    f"""
    WITH wanted AS ({_WANTED})
    SELECT w.idx,
           p.id IS NOT NULL AS playlist_known,
           EXISTS (
               SELECT 1 FROM content_versions cv
               WHERE cv.content_id = w.content_id AND cv.version_number = w.version
           ) AS content_known,
           w.campaign_id IS NULL
               OR EXISTS (SELECT 1 FROM campaigns c WHERE c.id = w.campaign_id)
               AS campaign_known,
           w.schedule_id IS NULL OR s.id IS NOT NULL AS schedule_known,
           EXISTS (
               SELECT 1 FROM playlist_items pi
               WHERE pi.playlist_id = w.playlist_id AND pi.content_id = w.content_id
           ) AS content_in_playlist,
           w.schedule_id IS NULL OR s.playlist_id = w.playlist_id AS schedule_plays_playlist,
           w.campaign_id IS NULL
               OR w.campaign_id = p.campaign_id
               OR w.campaign_id = s.campaign_id
               OR (w.schedule_id IS NULL AND EXISTS (
                   SELECT 1 FROM schedules any_s
                   WHERE any_s.playlist_id = w.playlist_id AND any_s.campaign_id = w.campaign_id
               )) AS campaign_matches
    FROM wanted w
    LEFT JOIN playlists p ON p.id = w.playlist_id
    LEFT JOIN schedules s ON s.id = w.schedule_id
    """  # noqa: S608 - composed from constants, never from input
)


@dataclass(frozen=True, slots=True)
class ReferenceVerdict:
    """A reference's fate: refused (`code`, `message`) or granted, with the video duration the
    duration rule holds it to (None: not a video, or no known duration)."""

    code: RejectCode | None
    message: str
    video_duration_ms: int | None


def _params(references: Sequence[Reference]) -> dict[str, list[Any]]:
    columns: list[list[Any]] = [list(column) for column in zip(*references, strict=True)]
    names = ("playlists", "contents", "versions", "campaigns", "schedules")
    return dict(zip(names, columns, strict=True))


def _why_not(row: Any) -> tuple[RejectCode, str]:
    if not row.playlist_known:
        return RejectCode.UNKNOWN_PLAYLIST, "playlist_id names no playlist"
    if not row.content_known:
        return RejectCode.UNKNOWN_CONTENT, "content_id and content_version name no content version"
    if not row.campaign_known:
        return RejectCode.UNKNOWN_CAMPAIGN, "campaign_id names no campaign"
    if not row.schedule_known:
        return RejectCode.UNKNOWN_SCHEDULE, "schedule_id names no schedule"
    if not row.content_in_playlist:
        return RejectCode.MISMATCHED_REFERENCES, "the content is not in this playlist"
    if not row.schedule_plays_playlist:
        return RejectCode.MISMATCHED_REFERENCES, "the schedule plays another playlist"
    if not row.campaign_matches:
        return (
            RejectCode.MISMATCHED_REFERENCES,
            "the campaign is neither the schedule's nor the playlist's",
        )
    return (
        RejectCode.NOT_SCHEDULED,
        "this playlist, content, campaign and schedule were never in this device's plans",
    )


async def check_references(
    conn: AsyncConnection, device_id: uuid.UUID, references: Iterable[Reference]
) -> dict[Reference, ReferenceVerdict]:
    """The verdict of each distinct reference of a batch for this device."""
    distinct = list(dict.fromkeys(references))
    if not distinct:
        return {}
    params: dict[str, Any] = {**_params(distinct), "device_id": str(device_id)}
    rows = (await conn.execute(_CHECK, params)).all()
    verdicts: dict[Reference, ReferenceVerdict] = {}
    refused: dict[int, int | None] = {}
    for row in rows:
        reference = distinct[row.idx - 1]
        if row.granted:
            verdicts[reference] = ReferenceVerdict(None, "", row.video_duration_ms)
        else:
            refused[row.idx] = row.video_duration_ms
    if refused:  # the rare path: say why
        suspects = [distinct[idx - 1] for idx in sorted(refused)]
        for row in (await conn.execute(_DIAGNOSE, _params(suspects))).all():
            code, message = _why_not(row)
            verdicts[suspects[row.idx - 1]] = ReferenceVerdict(code, message, None)
    return verdicts
