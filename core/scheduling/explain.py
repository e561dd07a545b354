"""Why each candidate schedule plays, or does not, at one instant.

Operators' most common question is "why is this (not) playing?". `explain` answers it with
the same helpers that build the plan (expansion's date rules, resolution's `winners`), so
its verdicts always agree with the plan's windows. It does not need a horizon: any instant
can be explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from uuid import UUID
from zoneinfo import ZoneInfo

from core.db.enums import TargetType
from core.scheduling.expansion import cut_end, hard_bound, raw_occurrences, start_blocked
from core.scheduling.inputs import PlanInputs, ScheduleInput
from core.scheduling.resolution import is_candidate, playable_playlist, winners
from core.scheduling.rules import FrequencyCap
from core.scheduling.tz import local_date, zone

_TICK = timedelta(microseconds=1)


class Outcome(StrEnum):
    WON = "won"
    MERGED = "merged"
    LOST_PRIORITY = "lost_priority"
    LOST_SPECIFICITY = "lost_specificity"
    OUTSIDE_DAYPART = "outside_daypart"
    EXCLUDED = "excluded"
    OUTSIDE_DATES = "outside_dates"
    OUTSIDE_CAMPAIGN = "outside_campaign"
    DISABLED = "disabled"
    EMPTY_PLAYLIST = "empty_playlist"


PLAYING = frozenset({Outcome.WON, Outcome.MERGED})


@dataclass(frozen=True, slots=True)
class Verdict:
    """One candidate's fate. `against` names the schedules it lost to (or merged with);
    `caps` are its frequency caps, which the player enforces on whatever it plays."""

    schedule_id: UUID
    playlist_id: UUID
    campaign_id: UUID | None
    target_type: TargetType
    priority: int
    timezone: str
    local_time: datetime
    outcome: Outcome
    detail: str
    against: tuple[UUID, ...] = ()
    caps: tuple[FrequencyCap, ...] = ()


@dataclass(frozen=True, slots=True)
class Explanation:
    at: datetime
    verdicts: tuple[Verdict, ...]
    playing: tuple[UUID, ...]
    fallback_playlist_id: UUID | None


def _own_rules(schedule: ScheduleInput, tz: ZoneInfo, at: datetime) -> Outcome | None:
    """None when the schedule's own rules make it active at `at`, else the first reason."""
    occurrences = raw_occurrences(schedule, tz, at, at + _TICK)
    if not occurrences:
        day_bound = hard_bound(schedule, local_date(at, tz))
        return Outcome(day_bound) if day_bound is not None else Outcome.OUTSIDE_DAYPART
    reasons: list[Outcome] = []
    for occurrence in occurrences:
        blocked = start_blocked(schedule, occurrence.start_date)
        if blocked is None:
            cut, _ = cut_end(schedule, occurrence, tz)
            if at < cut:
                return None
            blocked = hard_bound(schedule, occurrence.start_date + timedelta(days=1))
        reasons.append(Outcome(blocked) if blocked is not None else Outcome.OUTSIDE_DATES)
    return reasons[0]


_INACTIVE_DETAIL = {
    Outcome.DISABLED: "The schedule is disabled.",
    Outcome.EMPTY_PLAYLIST: "Its playlist has no playable items.",
    Outcome.OUTSIDE_DAYPART: "No daypart covers this local time.",
    Outcome.EXCLUDED: "The daypart starts on an excluded date.",
    Outcome.OUTSIDE_DATES: "This date is outside the schedule's validity or date ranges.",
    Outcome.OUTSIDE_CAMPAIGN: "This date is outside its campaign's dates.",
}


def _verdict(
    inputs: PlanInputs,
    schedule: ScheduleInput,
    at: datetime,
    outcome: Outcome,
    detail: str,
    against: tuple[UUID, ...] = (),
) -> Verdict:
    tz_name = inputs.schedule_timezone(schedule)
    return Verdict(
        schedule_id=schedule.id,
        playlist_id=schedule.playlist_id,
        campaign_id=schedule.campaign_id,
        target_type=schedule.target_type,
        priority=schedule.priority,
        timezone=tz_name,
        local_time=at.astimezone(zone(tz_name)),
        outcome=outcome,
        detail=detail,
        against=against,
        caps=schedule.rules.frequency_caps,
    )


def explain(inputs: PlanInputs, at: datetime) -> Explanation:
    """Every candidate schedule of the device at `at`, ordered by schedule id."""
    if at.tzinfo is None:
        raise ValueError("at must be an aware datetime")
    at = at.astimezone(UTC)
    schedules = sorted(inputs.schedules, key=lambda s: str(s.id))
    verdicts: dict[UUID, Verdict] = {}
    active: list[ScheduleInput] = []
    for schedule in schedules:
        if not schedule.enabled:
            outcome: Outcome | None = Outcome.DISABLED
        elif not is_candidate(inputs, schedule):
            outcome = Outcome.EMPTY_PLAYLIST
        else:
            outcome = _own_rules(schedule, zone(inputs.schedule_timezone(schedule)), at)
        if outcome is None:
            active.append(schedule)
        else:
            verdicts[schedule.id] = _verdict(
                inputs, schedule, at, outcome, _INACTIVE_DETAIL[outcome]
            )

    won = winners(active)
    won_ids = tuple(s.id for s in won)
    for schedule in active:
        if schedule in won:
            others = tuple(i for i in won_ids if i != schedule.id)
            outcome = Outcome.MERGED if others else Outcome.WON
            detail = (
                "Ties with the other winners; their playlists are interleaved by weight."
                if others
                else "Highest priority and most specific target active now."
            )
            verdicts[schedule.id] = _verdict(inputs, schedule, at, outcome, detail, others)
        else:
            top = won[0].priority
            if schedule.priority < top:
                outcome, detail = Outcome.LOST_PRIORITY, f"Priority {schedule.priority} < {top}."
            else:
                outcome = Outcome.LOST_SPECIFICITY
                detail = "Equal priority, but a schedule targeting the device itself wins."
            verdicts[schedule.id] = _verdict(inputs, schedule, at, outcome, detail, won_ids)

    fallback = None
    if not won:
        playlist = playable_playlist(inputs, inputs.device.default_playlist_id)
        fallback = playlist.id if playlist is not None else None
    return Explanation(
        at=at,
        verdicts=tuple(verdicts[s.id] for s in schedules),
        playing=won_ids,
        fallback_playlist_id=fallback,
    )
