"""Property tests of the plan invariants over random schedules, zones and DST dates."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from core.scheduling import (
    DeviceContext,
    PlanInputs,
    PlaylistInput,
    build_plan,
    canonical_json,
    explain,
    horizon_for,
)
from core.scheduling.tz import offset_minutes, zone
from tests.scheduling.builders import DEVICE, GROUP, item, schedule, uid, utc

FAST = settings(max_examples=150, deadline=None)

ZONES = [
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Asia/Kolkata",  # +05:30, no DST
]
# Days just before DST changes in both hemispheres, and a quiet one.
ANCHORS = [
    utc(2026, 3, 6), utc(2026, 3, 27), utc(2026, 4, 3), utc(2026, 7, 1),
    utc(2026, 10, 2), utc(2026, 10, 23), utc(2026, 10, 30),
]  # fmt: skip
CAPS = [
    {"scope": "ITEM", "max_plays": 3, "per_seconds": 3600},
    {"scope": "ITEM", "max_plays": 1, "per_seconds": 600, "content_id": str(uid("content:c0"))},
    {"scope": "CAMPAIGN", "max_plays": 10, "per_seconds": 3600},
]

times = st.integers(0, 95).map(lambda q: f"{q * 15 // 60:02d}:{q * 15 % 60:02d}")
dayparts = st.fixed_dictionaries(
    {
        "weekdays": st.sets(st.integers(1, 7), min_size=1).map(sorted),
        "start": times,
        "end": times | st.just("24:00"),
    }
)


# Mostly none: every date rule shrinks activity, and merges need overlap to be tested.
SOME = st.sampled_from([0, 0, 0, 1, 2])


def sometimes(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.sampled_from([False, False, False, True]).flatmap(
        lambda on: strategy if on else st.none()
    )


@st.composite
def date_pair(draw: st.DrawFn, base: date) -> tuple[date, date]:
    first = base + timedelta(days=draw(st.integers(-3, 6)))
    return first, first + timedelta(days=draw(st.integers(0, 3)))


@st.composite
def rules(draw: st.DrawFn, base: date) -> dict[str, Any]:
    parts = draw(st.lists(dayparts, max_size=3))
    unique = list({(tuple(p["weekdays"]), p["start"], p["end"]): p for p in parts}.values())
    ranges = [draw(date_pair(base)) for _ in range(draw(SOME))]
    exclusions = [draw(date_pair(base)) for _ in range(draw(SOME))]
    return {
        "dayparts": unique,
        "date_ranges": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in ranges],
        "exclusions": [{"start": a.isoformat(), "end": b.isoformat()} for a, b in exclusions],
        "frequency_caps": [CAPS[i] for i in sorted(draw(st.sets(st.integers(0, 2))))],
    }


@st.composite
def plan_inputs(draw: st.DrawFn) -> PlanInputs:
    now = draw(st.sampled_from(ANCHORS)) + timedelta(minutes=draw(st.integers(0, 3 * 1440)))
    base = now.date()
    playlists = []
    for p in range(3):
        size = draw(st.sampled_from([0, 1, 2, 2, 3, 3, 3]))
        contents = draw(st.lists(st.integers(0, 4), min_size=size, max_size=size))
        items = tuple(
            item(f"c{c}", position=pos, weight=draw(st.integers(1, 3)), playlist=f"p{p}")
            for pos, c in enumerate(contents)
        )
        campaign = uid(f"campaign:pc{p}") if draw(st.booleans()) else None
        playlists.append(PlaylistInput(uid(f"playlist:p{p}"), campaign, items))
    schedules = []
    for s in range(draw(st.integers(0, 6))):
        campaign = draw(sometimes(date_pair(base)))
        validity = draw(sometimes(date_pair(base)))
        schedules.append(
            schedule(
                f"s{s}",
                f"p{draw(st.sampled_from([0, 0, 1, 1, 2, 2, 3]))}",  # p3 is missing
                priority=draw(st.sampled_from([0, 0, 0, 1, -1])),
                target=draw(st.sampled_from([DEVICE, GROUP])),
                rules=draw(rules(base)),
                tz=draw(sometimes(st.sampled_from(ZONES))),
                campaign=f"k{s}" if campaign else None,
                campaign_dates=campaign,
                valid_from=validity[0] if validity else None,
                valid_to=validity[1] if validity else None,
                enabled=draw(st.integers(0, 9)) > 0,
            )
        )
    default = draw(st.one_of(st.none(), st.integers(0, 2)))
    return PlanInputs(
        device=DeviceContext(
            device_id=uid("device:prop"),
            group_id=uid("group:prop"),
            store_timezone=draw(st.sampled_from(ZONES)),
            default_playlist_id=uid(f"playlist:p{default}") if default is not None else None,
        ),
        schedules=tuple(schedules),
        playlists=tuple(playlists),
        horizon=horizon_for(now),
    )


def parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def has_fallback(inputs: PlanInputs) -> bool:
    playlist = inputs.playlist(inputs.device.default_playlist_id)
    return playlist is not None and bool(playlist.items)


@FAST
@given(plan_inputs())
def test_windows_are_sorted_disjoint_inside_the_horizon_and_cover_it_with_a_default(
    inputs: PlanInputs,
) -> None:
    plan = build_plan(inputs)
    windows = [(parse(w["start"]), parse(w["end"])) for w in plan["windows"]]
    for start, end in windows:
        assert inputs.horizon.start <= start < end <= inputs.horizon.end
    for (_, end), (next_start, _) in itertools.pairwise(windows):
        assert end <= next_start
    if has_fallback(inputs):
        assert windows[0][0] == inputs.horizon.start
        assert windows[-1][1] == inputs.horizon.end
        assert all(a[1] == b[0] for a, b in itertools.pairwise(windows))
    for window in plan["windows"]:
        assert window["sequence"], "a window always has something to play"
        assert window["fallback"] == (window["schedule_ids"] == [])


@FAST
@given(plan_inputs())
def test_adjacent_windows_differ_and_offsets_are_constant_inside_each(inputs: PlanInputs) -> None:
    plan = build_plan(inputs)
    tz = zone(inputs.device.store_timezone)
    for a, b in zip(plan["windows"], plan["windows"][1:], strict=False):
        if a["end"] == b["start"]:
            assert (a["schedule_ids"], a["utc_offset_minutes"]) != (
                b["schedule_ids"],
                b["utc_offset_minutes"],
            )
    for window in plan["windows"]:
        start, end = parse(window["start"]), parse(window["end"])
        assert offset_minutes(start, tz) == window["utc_offset_minutes"]
        assert offset_minutes(end - timedelta(seconds=1), tz) == window["utc_offset_minutes"]
    referenced = {i for w in plan["windows"] for i in w["sequence"]}
    assert referenced == set(range(len(plan["items"])))


@FAST
@given(plan_inputs(), st.randoms(use_true_random=False), st.integers(0, 86399))
def test_deterministic_under_permutation_and_generation_time(
    inputs: PlanInputs, rng: random.Random, second_of_day: int
) -> None:
    expected = canonical_json(build_plan(inputs))
    playlists = [
        PlaylistInput(p.id, p.campaign_id, tuple(rng.sample(p.items, len(p.items))))
        for p in inputs.playlists
    ]
    later = inputs.horizon.start + timedelta(seconds=second_of_day)
    permuted = replace(
        inputs,
        schedules=tuple(rng.sample(inputs.schedules, len(inputs.schedules))),
        playlists=tuple(rng.sample(playlists, len(playlists))),
        horizon=horizon_for(later),
    )
    assert canonical_json(build_plan(permuted)) == expected
    assert permuted.inputs_hash() == inputs.inputs_hash()


@FAST
@given(plan_inputs(), st.lists(st.integers(0, 102 * 3600 - 1), min_size=1, max_size=4))
def test_explain_agrees_with_the_plan(inputs: PlanInputs, offsets: list[int]) -> None:
    plan = build_plan(inputs)
    for offset in offsets:
        at = inputs.horizon.start + timedelta(seconds=offset)
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        window = next((w for w in plan["windows"] if w["start"] <= stamp < w["end"]), None)
        result = explain(inputs, at)
        playing = [str(i) for i in result.playing]
        if window is None:
            assert playing == [] and result.fallback_playlist_id is None
        else:
            assert playing == window["schedule_ids"]
            assert (result.fallback_playlist_id is not None) == window["fallback"]
