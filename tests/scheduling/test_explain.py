"""explain(device, at): every candidate and why it won or lost."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from core.scheduling import (
    Outcome,
    PlanInputs,
    PlaylistInput,
    ScheduleInput,
    build_plan,
    explain,
)
from core.scheduling.explain import Explanation, Verdict
from tests.scheduling.builders import (
    DEVICE,
    daypart,
    make_inputs,
    name_of,
    owners,
    playlist,
    schedule,
    uid,
    utc,
)

MONDAY_NOON = utc(2026, 3, 2, 12)


def by_name(explanation: Explanation) -> dict[str, Verdict]:
    return {name_of(v.schedule_id): v for v in explanation.verdicts}


def scenario() -> list[ScheduleInput]:
    caps = {"frequency_caps": [{"scope": "CAMPAIGN", "max_plays": 6, "per_seconds": 3600}]}
    return [
        schedule("winner", "a", priority=10, target=DEVICE, rules=caps, campaign="c"),
        schedule("same-prio-group", "b", priority=10),
        schedule("low", "b", priority=1),
        schedule("morning", "b", priority=50, rules={"dayparts": [daypart([1], "06:00", "09:00")]}),
        schedule("excluded", "b", priority=50, rules={"exclusions": ["2026-03-02"]}),
        schedule("old", "b", priority=50, valid_to=date(2026, 2, 28)),
        schedule(
            "ranged",
            "b",
            priority=50,
            rules={"date_ranges": [{"start": "2026-04-01", "end": "2026-04-30"}]},
        ),
        schedule(
            "future-campaign",
            "b",
            priority=50,
            campaign="f",
            campaign_dates=(date(2026, 5, 1), date(2026, 5, 31)),
        ),
        schedule("off", "b", priority=99, enabled=False),
        schedule("hollow", "empty", priority=99),
    ]


def scenario_inputs() -> PlanInputs:
    empty = PlaylistInput(uid("playlist:empty"), None, ())
    return make_inputs(scenario(), [playlist("a", "x"), playlist("b", "y"), empty], default="b")


def test_every_candidate_gets_a_verdict_with_its_reason() -> None:
    result = explain(scenario_inputs(), MONDAY_NOON)
    verdicts = by_name(result)
    assert {n: v.outcome for n, v in verdicts.items()} == {
        "winner": Outcome.WON,
        "same-prio-group": Outcome.LOST_SPECIFICITY,
        "low": Outcome.LOST_PRIORITY,
        "morning": Outcome.OUTSIDE_DAYPART,
        "excluded": Outcome.EXCLUDED,
        "old": Outcome.OUTSIDE_DATES,
        "ranged": Outcome.OUTSIDE_DATES,
        "future-campaign": Outcome.OUTSIDE_CAMPAIGN,
        "off": Outcome.DISABLED,
        "hollow": Outcome.EMPTY_PLAYLIST,
    }
    winner = uid("schedule:winner")
    assert verdicts["low"].against == (winner,)
    assert verdicts["same-prio-group"].against == (winner,)
    assert verdicts["winner"].against == ()
    assert result.playing == (winner,)
    assert result.fallback_playlist_id is None
    # Sorted by schedule id, whatever the input order.
    assert [v.schedule_id for v in result.verdicts] == sorted(
        (v.schedule_id for v in result.verdicts), key=str
    )


def test_verdicts_carry_caps_priority_and_local_time() -> None:
    verdict = by_name(explain(scenario_inputs(), MONDAY_NOON))["winner"]
    assert [c.scope for c in verdict.caps] == ["CAMPAIGN"]
    assert verdict.caps[0].max_plays == 6
    assert verdict.priority == 10 and verdict.target_type == DEVICE
    assert verdict.campaign_id == uid("campaign:c")
    assert verdict.timezone == "UTC" and verdict.local_time == MONDAY_NOON
    assert verdict.detail


def test_ties_are_reported_as_merged_with_each_other() -> None:
    inputs = make_inputs(
        [schedule("one", "a", priority=2), schedule("two", "b", priority=2)],
        [playlist("a", "x"), playlist("b", "y")],
    )
    verdicts = by_name(explain(inputs, MONDAY_NOON))
    assert verdicts["one"].outcome == verdicts["two"].outcome == Outcome.MERGED
    assert verdicts["one"].against == (uid("schedule:two"),)
    assert verdicts["two"].against == (uid("schedule:one"),)


def test_nothing_active_reports_the_fallback() -> None:
    inputs = make_inputs(
        [schedule("evening", "a", rules={"dayparts": [daypart([1], "18:00", "20:00")]})],
        [playlist("a", "x"), playlist("idle", "i")],
        default="idle",
    )
    result = explain(inputs, MONDAY_NOON)
    assert result.playing == ()
    assert result.fallback_playlist_id == uid("playlist:idle")
    assert by_name(result)["evening"].outcome == Outcome.OUTSIDE_DAYPART


def test_overnight_tails_follow_the_start_date_rule() -> None:
    night = {
        "dayparts": [daypart([1, 2, 3, 4, 5, 6, 7], "22:00", "02:00")],
        "exclusions": ["2026-03-03"],
    }
    inputs = make_inputs(
        [
            schedule("night", "a", rules=night),
            schedule(
                "campaign-night",
                "b",
                campaign="c",
                campaign_dates=(date(2026, 3, 1), date(2026, 3, 2)),
                rules=night,
            ),
        ],
        [playlist("a", "x"), playlist("b", "y")],
    )
    tail_into_excluded_day = utc(2026, 3, 3, 1)
    verdicts = by_name(explain(inputs, tail_into_excluded_day))
    assert verdicts["night"].outcome == Outcome.WON  # Monday night still plays its tail
    assert verdicts["campaign-night"].outcome == Outcome.OUTSIDE_CAMPAIGN  # cut at midnight
    excluded_start = utc(2026, 3, 3, 23)
    assert by_name(explain(inputs, excluded_start))["night"].outcome == Outcome.EXCLUDED


def test_explain_uses_the_schedule_timezone() -> None:
    inputs = make_inputs(
        [
            schedule(
                "ny-morning",
                "a",
                tz="America/New_York",
                rules={"dayparts": [daypart([1], "09:00", "10:00")]},
            )
        ],
        [playlist("a", "x")],
        store_tz="Europe/Berlin",
    )
    verdict = by_name(explain(inputs, utc(2026, 3, 2, 14, 30)))["ny-morning"]
    assert verdict.outcome == Outcome.WON
    assert verdict.timezone == "America/New_York"
    assert verdict.local_time.hour == 9 and verdict.local_time.minute == 30


@pytest.mark.parametrize("hour", range(0, 24, 3))
def test_explain_agrees_with_the_plan(hour: int) -> None:
    inputs = scenario_inputs()
    plan = build_plan(inputs)
    at = datetime(2026, 3, 3, hour, 30, tzinfo=MONDAY_NOON.tzinfo)
    result = explain(inputs, at)
    assert sorted(name_of(i) for i in result.playing) == sorted(owners(plan, at))


def test_explain_needs_an_aware_instant() -> None:
    with pytest.raises(ValueError, match="aware"):
        explain(scenario_inputs(), datetime(2026, 3, 2, 12))  # noqa: DTZ001 - refused
