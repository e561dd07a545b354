"""The compact plan JSON a player downloads, its canonical bytes and its ETag.

Shape (docs/scheduling.md):
  {"version", "valid_from", "valid_to", "timezone",
   "items": [{content_id, version, url, sha256, bytes, mime, duration_ms, weight, caps,
              playlist_id, schedule_id, campaign_id}, ...],
   "windows": [{start, end, utc_offset_minutes, fallback, schedule_ids, playlist_ids,
                campaign_ids, sequence: [index into items, ...]}, ...],
   "caps": [{id, scope, max_plays, per_seconds, content_id, campaign_id, schedule_id,
             declared_by}, ...]}

Items are listed once and windows refer to them by index: a daily schedule repeats the same
items in every window, and inlining them made plans ~20x larger. The plan holds no device
id and no generation time, so devices with the same inputs get byte-identical plans and
one ETag (computed once per inputs hash), and it holds only JSON-native values, so the copy
stored in JSONB re-serialises to the same canonical bytes. URLs are stable storage URLs:
no per-request presigning inside the plan.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import orjson

from core.scheduling.caps import PlanCaps
from core.scheduling.inputs import PlanInputs, PlanItem, PlaylistInput, ScheduleInput
from core.scheduling.interleave import interleave
from core.scheduling.resolution import Segment, resolve

PLAN_VERSION = 1

Json = dict[str, Any]


def iso_utc(instant: datetime) -> str:
    """Second precision with a Z: every boundary is a whole second. Not strftime: its `%Y`
    does not pad years before 1000 on glibc ("1-01-03T..."), which nothing parses back."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _id(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def effective_campaign(schedule: ScheduleInput | None, playlist: PlaylistInput) -> UUID | None:
    """Proof-of-play attributes a play to the schedule's campaign, else the playlist's."""
    if schedule is not None and schedule.campaign_id is not None:
        return schedule.campaign_id
    return playlist.campaign_id


class _Renderer:
    """Builds each (schedule, item) entry once and numbers it by first appearance in time
    order, which is deterministic because the segments are."""

    def __init__(self, inputs: PlanInputs, caps: PlanCaps) -> None:
        self._inputs = inputs
        self._caps = caps
        self._index: dict[tuple[UUID | None, UUID], int] = {}
        self._sequences: dict[tuple[UUID, ...], list[int]] = {}
        self.items: list[Json] = []

    def _ref(self, schedule: ScheduleInput | None, playlist: PlaylistInput, item: PlanItem) -> int:
        key = (None if schedule is None else schedule.id, item.item_id)
        index = self._index.get(key)
        if index is None:
            campaign = effective_campaign(schedule, playlist)
            self.items.append(
                {
                    "content_id": str(item.content_id),
                    "version": item.version,
                    "url": item.url,
                    "sha256": item.sha256,
                    "bytes": item.bytes,
                    "mime": item.mime,
                    "duration_ms": item.duration_ms,
                    "weight": item.weight,
                    "caps": self._caps.cap_ids_for(schedule, campaign, item.content_id),
                    "playlist_id": str(playlist.id),
                    "schedule_id": _id(None if schedule is None else schedule.id),
                    "campaign_id": _id(campaign),
                }
            )
            index = self._index[key] = len(self.items) - 1
        return index

    def _merged(self, schedules: tuple[ScheduleInput, ...]) -> list[int]:
        """The interleaved sequence of tied schedules; the same owners recur every day."""
        key = tuple(s.id for s in schedules)
        sequence = self._sequences.get(key)
        if sequence is None:
            lists = []
            for schedule in schedules:
                playlist = _playlist(self._inputs, schedule)
                lists.append(
                    [(self._ref(schedule, playlist, i), i.weight) for i in playlist.ordered_items()]
                )
            sequence = self._sequences[key] = interleave(lists)
        return sequence

    def window(self, segment: Segment) -> Json:
        if segment.schedules:
            sequence = list(self._merged(segment.schedules))  # no aliasing between windows
        else:
            assert segment.fallback is not None  # resolution: no owners means fallback
            fallback = segment.fallback
            sequence = [self._ref(None, fallback, i) for i in fallback.ordered_items()]
        entries = [self.items[i] for i in sequence]
        return {
            "start": iso_utc(segment.start),
            "end": iso_utc(segment.end),
            "utc_offset_minutes": segment.utc_offset_minutes,
            "fallback": not segment.schedules,
            "schedule_ids": [str(s.id) for s in segment.schedules],
            "playlist_ids": sorted({e["playlist_id"] for e in entries}),
            "campaign_ids": sorted({e["campaign_id"] for e in entries if e["campaign_id"]}),
            "sequence": sequence,
        }


def _playlist(inputs: PlanInputs, schedule: ScheduleInput) -> PlaylistInput:
    playlist = inputs.playlist(schedule.playlist_id)
    assert playlist is not None  # resolution only lets playable playlists win
    return playlist


def build_plan(inputs: PlanInputs) -> Json:
    """The plan for these inputs: shared by every device whose inputs hash the same."""
    segments = resolve(inputs)
    owners = {s.id: s for segment in segments for s in segment.schedules}
    caps = PlanCaps.collect(
        (s, effective_campaign(s, _playlist(inputs, s))) for s in owners.values()
    )
    renderer = _Renderer(inputs, caps)
    windows = [renderer.window(segment) for segment in segments]
    return {
        "version": PLAN_VERSION,
        "valid_from": iso_utc(inputs.horizon.start),
        "valid_to": iso_utc(inputs.horizon.end),
        "timezone": inputs.device.store_timezone,
        "items": renderer.items,
        "windows": windows,
        # After the windows: only caps that some item references are listed.
        "caps": caps.to_json(),
    }


def canonical_json(plan: Json) -> bytes:
    """Sorted keys, no whitespace: the bytes the ETag is computed from."""
    return orjson.dumps(plan, option=orjson.OPT_SORT_KEYS)


def etag_for(plan: Json) -> str:
    """An opaque strong validator WITHOUT the surrounding quotes (the HTTP layer adds them):
    "sha256-" and the first 32 hex digits of the canonical JSON's sha256."""
    return etag_for_bytes(canonical_json(plan))


def etag_for_bytes(canonical: bytes) -> str:
    """The same ETag from bytes already made by `canonical_json`: serialise once, use the
    bytes both as the stored/served body and for the tag."""
    return "sha256-" + hashlib.sha256(canonical).hexdigest()[:32]
