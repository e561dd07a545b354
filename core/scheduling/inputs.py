"""Plain, frozen inputs of one plan computation, and their canonical hash.

The loader (database side) turns rows into these; the engine never sees a connection. The
hash covers exactly what can change the resolved windows, so thousands of devices of one
group with one store timezone share a single computation. The device id is deliberately
absent: a DEVICE-targeted schedule only ever reaches one device, and its target type (which
is hashed) is all that resolution needs to know about it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any
from uuid import UUID

import orjson

from core.db.enums import TargetType
from core.scheduling.horizon import Horizon
from core.scheduling.rules import ScheduleRules

# Bump when the resolution rule changes, so stored hashes stop matching and plans rebuild.
ENGINE_VERSION = 1


@dataclass(frozen=True, slots=True)
class PlanItem:
    """One playlist item with its content version already resolved: a pinned version, or
    the latest one for follow-latest items (the loader decides which, not the engine)."""

    item_id: UUID
    position: int
    content_id: UUID
    version: int
    url: str
    sha256: str
    bytes: int
    mime: str
    duration_ms: int | None
    weight: int = 1

    def __post_init__(self) -> None:
        if self.weight <= 0:
            raise ValueError("item weight must be positive")

    def sort_key(self) -> tuple[int, str]:
        return (self.position, str(self.item_id))

    def canonical(self) -> dict[str, Any]:
        return {
            "item_id": self.item_id,
            "position": self.position,
            "content_id": self.content_id,
            "version": self.version,
            "url": self.url,
            "sha256": self.sha256,
            "bytes": self.bytes,
            "mime": self.mime,
            "duration_ms": self.duration_ms,
            "weight": self.weight,
        }


def _digest(value: object) -> str:
    blob = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_UTC_Z)
    return hashlib.sha256(blob).hexdigest()


@dataclass(frozen=True)
class PlaylistInput:
    id: UUID
    campaign_id: UUID | None
    items: tuple[PlanItem, ...]

    @cached_property
    def ordered(self) -> tuple[PlanItem, ...]:
        """Playback order: order_index, then item id, whatever order the rows came in."""
        return tuple(sorted(self.items, key=PlanItem.sort_key))

    def ordered_items(self) -> tuple[PlanItem, ...]:
        return self.ordered

    def canonical(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "campaign_id": self.campaign_id,
            "items": [item.canonical() for item in self.ordered_items()],
        }

    @cached_property
    def digest(self) -> str:
        """Memoised: a loader that shares one PlaylistInput between the devices of a batch
        hashes each playlist once, not once per device."""
        return _digest(self.canonical())


@dataclass(frozen=True)
class ScheduleInput:
    """A candidate schedule. `campaign_id` and the campaign dates are those of the
    schedule's campaign (the loader may fall back to the playlist's campaign)."""

    id: UUID
    target_type: TargetType
    priority: int
    playlist_id: UUID
    rules: ScheduleRules = field(default_factory=ScheduleRules)
    campaign_id: UUID | None = None
    timezone: str | None = None
    valid_from: date | None = None
    valid_to: date | None = None
    campaign_start: date | None = None
    campaign_end: date | None = None
    enabled: bool = True

    def canonical(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "target_type": str(self.target_type),
            "priority": self.priority,
            "playlist_id": self.playlist_id,
            "rules": self.rules.to_json(),
            "campaign_id": self.campaign_id,
            "timezone": self.timezone,
            "valid_from": self.valid_from,
            "valid_to": self.valid_to,
            "campaign_start": self.campaign_start,
            "campaign_end": self.campaign_end,
            "enabled": self.enabled,
        }

    @cached_property
    def digest(self) -> str:
        return _digest(self.canonical())


@dataclass(frozen=True, slots=True)
class DeviceContext:
    """The device side of the inputs. `device_id` and `group_id` identify, but never shape
    the output (None for a group-level preview)."""

    device_id: UUID | None = None
    group_id: UUID | None = None
    store_timezone: str = "UTC"
    default_playlist_id: UUID | None = None


@dataclass(frozen=True)
class PlanInputs:
    """Everything one device's plan depends on. `schedules` are the device's candidates
    (targeting it or its group); `playlists` must include every playlist they reference
    and the group's default playlist; unrelated playlists are ignored (but cost time, so
    pass only those). Listing a schedule or playlist twice is a loader bug: ValueError."""

    device: DeviceContext
    schedules: tuple[ScheduleInput, ...]
    playlists: tuple[PlaylistInput, ...]
    horizon: Horizon
    _by_id: Mapping[UUID, PlaylistInput] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if len({s.id for s in self.schedules}) != len(self.schedules):
            raise ValueError("a schedule is listed twice")
        if len({p.id for p in self.playlists}) != len(self.playlists):
            raise ValueError("a playlist is listed twice")
        object.__setattr__(self, "_by_id", {p.id: p for p in self.playlists})

    def playlist(self, playlist_id: UUID | None) -> PlaylistInput | None:
        return None if playlist_id is None else self._by_id.get(playlist_id)

    def schedule_timezone(self, schedule: ScheduleInput) -> str:
        return schedule.timezone or self.device.store_timezone

    def canonical(self) -> dict[str, Any]:
        """What shapes the output, in a form independent of input order. Disabled schedules
        and unreferenced playlists are left out: they cannot change what plays. Schedules
        and playlists enter by digest, so hashing a device costs little beyond a sort."""
        schedules = [s for s in self.schedules if s.enabled]
        used = {s.playlist_id for s in schedules}
        if self.device.default_playlist_id is not None:
            used.add(self.device.default_playlist_id)
        playlists = [p for p in self._by_id.values() if p.id in used]
        return {
            "engine": ENGINE_VERSION,
            "horizon": [self.horizon.start, self.horizon.end],
            "store_timezone": self.device.store_timezone,
            "default_playlist_id": self.device.default_playlist_id,
            "schedules": sorted(s.digest for s in schedules),
            "playlists": sorted(p.digest for p in playlists),
        }

    def inputs_hash(self) -> str:
        """The key under which devices share one computation (and one plan/ETag)."""
        return _digest(self.canonical())
