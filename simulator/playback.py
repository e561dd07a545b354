"""Reading a downloaded plan the way a player does: which window is on now, what plays next.

The plan lists every item once and each window loops over `sequence` (indexes into
`items`). Windows are sorted and never overlap; a moment outside every window is idle.
Frequency caps are not enforced here: the simulator's own programming declares none.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

DEFAULT_DURATION_MS = 10_000  # a player's default for items whose duration is null


def parse_instant(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class PlanItem:
    content_id: str
    version: int
    duration_ms: int
    playlist_id: str
    schedule_id: str | None
    campaign_id: str | None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PlanItem:
        duration = raw.get("duration_ms")
        return cls(
            content_id=str(raw["content_id"]),
            version=int(raw["version"]),
            duration_ms=int(duration) if duration else DEFAULT_DURATION_MS,
            playlist_id=str(raw["playlist_id"]),
            schedule_id=raw.get("schedule_id"),
            campaign_id=raw.get("campaign_id"),
        )


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime
    sequence: tuple[int, ...]

    def contains(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


class Plan:
    def __init__(self, body: dict[str, Any], etag: str) -> None:
        self.etag = etag
        self.items = [PlanItem.from_json(item) for item in body.get("items", [])]
        windows = [
            Window(
                parse_instant(w["start"]),
                parse_instant(w["end"]),
                tuple(int(i) for i in w.get("sequence", [])),
            )
            for w in body.get("windows", [])
        ]
        self.windows = sorted((w for w in windows if w.sequence), key=lambda w: w.start)
        self._starts = [w.start for w in self.windows]

    def window_at(self, instant: datetime) -> Window | None:
        position = bisect.bisect_right(self._starts, instant) - 1
        if position >= 0 and self.windows[position].contains(instant):
            return self.windows[position]
        return None

    def next_start_after(self, instant: datetime) -> datetime | None:
        position = bisect.bisect_right(self._starts, instant)
        return self.windows[position].start if position < len(self.windows) else None


class Cursor:
    """Position in the current window's loop; starts over when the window (or plan) changes."""

    def __init__(self) -> None:
        self._key: tuple[str, datetime] | None = None
        self._position = 0

    def next_item(self, plan: Plan, window: Window) -> PlanItem:
        key = (plan.etag, window.start)
        if key != self._key:
            self._key, self._position = key, 0
        index = window.sequence[self._position % len(window.sequence)]
        self._position += 1
        return plan.items[index]
