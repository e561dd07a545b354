"""Small builders for engine inputs: readable names become stable UUIDs."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from core.db.enums import TargetType
from core.scheduling import (
    DeviceContext,
    Horizon,
    PlanInputs,
    PlanItem,
    PlaylistInput,
    ScheduleInput,
    horizon_for,
    parse_rules,
)

DEVICE = TargetType.DEVICE
GROUP = TargetType.GROUP


_NAMES: dict[str, str] = {}


def uid(name: str) -> UUID:
    value = uuid5(NAMESPACE_URL, f"signage-test:{name}")
    _NAMES[str(value)] = name.split(":", 1)[-1]
    return value


def name_of(value: object) -> str:
    """The readable name behind a builder UUID (content, schedule, playlist...)."""
    return _NAMES[str(value)]


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def window_at(plan: dict[str, Any], instant: datetime) -> dict[str, Any] | None:
    stamp = iso(instant)
    for window in plan["windows"]:
        if window["start"] <= stamp < window["end"]:
            return window  # type: ignore[no-any-return]
    return None


def played(plan: dict[str, Any], instant: datetime) -> list[str]:
    """Content names of the window at `instant`, in sequence order ([] when nothing)."""
    window = window_at(plan, instant)
    if window is None:
        return []
    return [name_of(plan["items"][i]["content_id"]) for i in window["sequence"]]


def owners(plan: dict[str, Any], instant: datetime) -> list[str]:
    window = window_at(plan, instant)
    return [] if window is None else [name_of(s) for s in window["schedule_ids"]]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def item(
    content: str,
    *,
    position: int = 0,
    weight: int = 1,
    version: int = 1,
    playlist: str = "",
    duration_ms: int | None = 10_000,
) -> PlanItem:
    digest = hashlib.sha256(f"{content}:{version}".encode()).hexdigest()
    return PlanItem(
        item_id=uid(f"item:{playlist}:{content}:{position}"),
        position=position,
        content_id=uid(f"content:{content}"),
        version=version,
        url=f"https://cdn.example/{content}/v{version}",
        sha256=digest,
        bytes=1000 + version,
        mime="video/mp4",
        duration_ms=duration_ms,
        weight=weight,
    )


def playlist(
    name: str, *contents: str | tuple[str, int], campaign: str | None = None
) -> PlaylistInput:
    """Items in the given order; ("name", weight) sets a weight."""
    items = []
    for position, entry in enumerate(contents):
        content, weight = (entry, 1) if isinstance(entry, str) else entry
        items.append(item(content, position=position, weight=weight, playlist=name))
    return PlaylistInput(
        id=uid(f"playlist:{name}"),
        campaign_id=uid(f"campaign:{campaign}") if campaign else None,
        items=tuple(items),
    )


def schedule(
    name: str,
    playlist_name: str,
    *,
    priority: int = 0,
    target: TargetType = GROUP,
    rules: dict[str, Any] | None = None,
    tz: str | None = None,
    campaign: str | None = None,
    campaign_dates: tuple[date, date] | None = None,
    valid_from: date | None = None,
    valid_to: date | None = None,
    enabled: bool = True,
) -> ScheduleInput:
    return ScheduleInput(
        id=uid(f"schedule:{name}"),
        target_type=target,
        priority=priority,
        playlist_id=uid(f"playlist:{playlist_name}"),
        rules=parse_rules(rules or {}),
        campaign_id=uid(f"campaign:{campaign}") if campaign else None,
        timezone=tz,
        valid_from=valid_from,
        valid_to=valid_to,
        campaign_start=campaign_dates[0] if campaign_dates else None,
        campaign_end=campaign_dates[1] if campaign_dates else None,
        enabled=enabled,
    )


def make_inputs(
    schedules: list[ScheduleInput],
    playlists: list[PlaylistInput],
    *,
    now: datetime | None = None,
    horizon: Horizon | None = None,
    store_tz: str = "UTC",
    default: str | None = None,
    device: str = "device-1",
) -> PlanInputs:
    if horizon is None:
        horizon = horizon_for(now or utc(2026, 3, 2, 10))
    return PlanInputs(
        device=DeviceContext(
            device_id=uid(f"device:{device}"),
            group_id=uid("group:1"),
            store_timezone=store_tz,
            default_playlist_id=uid(f"playlist:{default}") if default else None,
        ),
        schedules=tuple(schedules),
        playlists=tuple(playlists),
        horizon=horizon,
    )


def daypart(weekdays: list[int], start: str, end: str) -> dict[str, Any]:
    return {"weekdays": weekdays, "start": start, "end": end}


ALL_WEEK = [1, 2, 3, 4, 5, 6, 7]
