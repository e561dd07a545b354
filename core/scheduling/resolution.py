"""Conflict resolution over the horizon: which schedules own each stretch of time.

The rule, at every instant (docs/scheduling.md has the long form):
1. the candidates are the enabled schedules with a playable playlist that are active by
   their own rules (dayparts, dates, exclusions, campaign) at that instant;
2. only the highest priority among them is kept;
3. among those, DEVICE-targeted schedules beat GROUP-targeted ones;
4. whatever remains is merged (ordered by schedule id, then share of voice by weight);
5. if nothing remains, the group's default playlist plays, if it has a playable one;
   otherwise there is no window: the player shows nothing.

The sweep works on interval boundaries only (no per-minute stepping), and every ordering is
by id, so the result depends on neither input row order nor generation time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise
from uuid import UUID

from core.db.enums import TargetType
from core.scheduling.expansion import expand
from core.scheduling.inputs import PlanInputs, PlaylistInput, ScheduleInput
from core.scheduling.tz import offset_changes, offset_minutes, zone


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of time with one owner set and one local UTC offset. `schedules` is empty
    exactly when `fallback` (the default playlist) plays."""

    start: datetime
    end: datetime
    utc_offset_minutes: int
    schedules: tuple[ScheduleInput, ...]
    fallback: PlaylistInput | None


def playable_playlist(inputs: PlanInputs, playlist_id: UUID | None) -> PlaylistInput | None:
    playlist = inputs.playlist(playlist_id)
    return playlist if playlist is not None and playlist.items else None


def is_candidate(inputs: PlanInputs, schedule: ScheduleInput) -> bool:
    """Disabled schedules and schedules whose playlist has nothing to play never compete:
    an empty playlist must not black out a lower-priority schedule."""
    return schedule.enabled and playable_playlist(inputs, schedule.playlist_id) is not None


def winners(active: Iterable[ScheduleInput]) -> tuple[ScheduleInput, ...]:
    """Steps 2-4 of the rule, for one instant's active candidates."""
    pool = list(active)
    if not pool:
        return ()
    top = max(s.priority for s in pool)
    tied = [s for s in pool if s.priority == top]
    device = [s for s in tied if s.target_type == TargetType.DEVICE]
    return tuple(sorted(device or tied, key=lambda s: str(s.id)))


def _events(inputs: PlanInputs) -> tuple[list[tuple[datetime, int, int]], list[ScheduleInput]]:
    """(instant, +1 start / -1 end, candidate index); a schedule's own intervals are merged,
    so it is never active twice."""
    horizon = inputs.horizon
    candidates = sorted(
        (s for s in inputs.schedules if is_candidate(inputs, s)), key=lambda s: str(s.id)
    )
    events: list[tuple[datetime, int, int]] = []
    for index, schedule in enumerate(candidates):
        tz_name = inputs.schedule_timezone(schedule)
        for start, end in expand(schedule, tz_name, horizon.start, horizon.end):
            events.append((start, 1, index))
            events.append((end, -1, index))
    return events, candidates


def resolve(inputs: PlanInputs) -> list[Segment]:
    """Sorted, non-overlapping segments within the horizon. Adjacent stretches with the same
    owners and the same offset are one segment; with a default playlist they cover the whole
    horizon."""
    horizon = inputs.horizon
    store_tz_name = inputs.device.store_timezone
    store_tz = zone(store_tz_name)
    events, candidates = _events(inputs)
    fallback = playable_playlist(inputs, inputs.device.default_playlist_id)

    cuts = {horizon.start, horizon.end}
    cuts.update(at for at, _, _ in events)
    cuts.update(offset_changes(store_tz_name, horizon.start, horizon.end))
    boundaries = sorted(cuts)
    events.sort(key=lambda e: (e[0], e[1]))

    active: set[int] = set()
    owners_of: dict[frozenset[int], tuple[ScheduleInput, ...]] = {}
    segments: list[Segment] = []
    cursor = 0
    for start, end in pairwise(boundaries):
        while cursor < len(events) and events[cursor][0] <= start:
            _, delta, index = events[cursor]
            if delta > 0:
                active.add(index)
            else:
                active.discard(index)
            cursor += 1
        key = frozenset(active)
        if key not in owners_of:
            owners_of[key] = winners(candidates[i] for i in key)
        owners = owners_of[key]
        if not owners and fallback is None:
            continue
        offset = offset_minutes(start, store_tz)
        previous = segments[-1] if segments else None
        if (
            previous is not None
            and previous.end == start
            and previous.schedules == owners
            and previous.utc_offset_minutes == offset
        ):
            segments[-1] = Segment(previous.start, end, offset, owners, previous.fallback)
            continue
        segments.append(Segment(start, end, offset, owners, None if owners else fallback))
    return segments
