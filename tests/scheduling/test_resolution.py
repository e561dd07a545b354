"""Conflict resolution: priority, target specificity, merge by weight, fallback, merging."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

from core.scheduling import PlaylistInput, build_plan
from core.scheduling.interleave import interleave, weighted_cycle
from tests.scheduling.builders import (
    ALL_WEEK,
    DEVICE,
    GROUP,
    daypart,
    item,
    make_inputs,
    name_of,
    owners,
    played,
    playlist,
    schedule,
    uid,
    utc,
    window_at,
)

WEEKDAYS = [1, 2, 3, 4, 5]
MONDAY_NOON = utc(2026, 3, 2, 12)


def test_higher_priority_wins_the_time_it_covers() -> None:
    high = schedule(
        "high", "a", priority=10, rules={"dayparts": [daypart(WEEKDAYS, "09:00", "17:00")]}
    )
    low = schedule("low", "b", priority=0)
    plan = build_plan(make_inputs([low, high], [playlist("a", "ad"), playlist("b", "loop")]))
    assert played(plan, utc(2026, 3, 2, 8, 59)) == ["loop"]
    assert played(plan, utc(2026, 3, 2, 9)) == ["ad"]
    assert played(plan, utc(2026, 3, 2, 16, 59)) == ["ad"]
    assert played(plan, utc(2026, 3, 2, 17)) == ["loop"]
    first = plan["windows"][:3]
    assert [(w["start"], w["end"]) for w in first] == [
        ("2026-03-02T00:00:00Z", "2026-03-02T09:00:00Z"),
        ("2026-03-02T09:00:00Z", "2026-03-02T17:00:00Z"),
        # The low schedule's evening and the next night are one window.
        ("2026-03-02T17:00:00Z", "2026-03-03T09:00:00Z"),
    ]


def test_device_target_beats_group_at_equal_priority_only() -> None:
    group = schedule("group", "a", priority=5, target=GROUP)
    device = schedule("device", "b", priority=5, target=DEVICE)
    playlists = [playlist("a", "group-ad"), playlist("b", "device-ad"), playlist("c", "urgent")]
    plan = build_plan(make_inputs([group, device], playlists))
    assert played(plan, MONDAY_NOON) == ["device-ad"]

    urgent = schedule(
        "urgent",
        "c",
        priority=6,
        target=GROUP,
        rules={"dayparts": [daypart([1], "12:00", "13:00")]},
    )
    plan = build_plan(make_inputs([group, device, urgent], playlists))
    assert played(plan, MONDAY_NOON) == ["urgent"]
    assert played(plan, utc(2026, 3, 2, 13)) == ["device-ad"]


def test_ties_merge_with_items_interleaved_by_weight() -> None:
    first = schedule("s-first", "a", priority=3)
    second = schedule("s-second", "b", priority=3)
    plan = build_plan(
        make_inputs(
            [second, first],
            [playlist("a", "x", "y"), playlist("b", ("z", 3), "w")],
        )
    )
    window = window_at(plan, MONDAY_NOON)
    assert window is not None
    assert sorted(window["schedule_ids"]) == window["schedule_ids"]
    assert {name_of(s) for s in window["schedule_ids"]} == {"s-first", "s-second"}
    assert sorted(window["playlist_ids"]) == window["playlist_ids"]
    # Positions: x 1/4, y 3/4 ; z 3/8, w 7/8.
    assert played(plan, MONDAY_NOON) == ["x", "z", "y", "w"]
    # Share of voice: a player's SWRR cycle plays z three times for every x, y and w.
    items = [plan["items"][i] for i in window["sequence"]]
    cycle = weighted_cycle([entry["weight"] for entry in items])
    counts = Counter(name_of(items[i]["content_id"]) for i in cycle)
    assert counts == {"x": 1, "y": 1, "z": 3, "w": 1}
    # Proof-of-play ids travel with each item.
    by_name = {name_of(e["content_id"]): e for e in items}
    assert by_name["z"]["schedule_id"] == str(uid("schedule:s-second"))
    assert by_name["z"]["playlist_id"] == str(uid("playlist:b"))


def test_device_ties_merge_and_still_beat_group() -> None:
    d1 = schedule("d1", "a", priority=1, target=DEVICE)
    d2 = schedule("d2", "b", priority=1, target=DEVICE)
    g = schedule("g", "c", priority=1, target=GROUP)
    plan = build_plan(
        make_inputs([g, d2, d1], [playlist("a", "x"), playlist("b", "y"), playlist("c", "z")])
    )
    assert sorted(owners(plan, MONDAY_NOON)) == ["d1", "d2"]
    assert sorted(played(plan, MONDAY_NOON)) == ["x", "y"]


def test_interleave_keeps_each_playlist_order_and_is_exact() -> None:
    merged = interleave([[("a1", 1), ("a2", 1), ("a3", 1)], [("b1", 1)]])
    assert merged == ["a1", "a2", "b1", "a3"]
    assert interleave([[("only", 5), ("two", 1)]]) == ["only", "two"]
    assert weighted_cycle([1, 1, 1]) == [0, 1, 2]
    assert weighted_cycle([2, 1, 1]) == [0, 1, 2, 0]


def test_gaps_fall_back_to_the_group_default_playlist() -> None:
    ad = schedule("ad", "a", rules={"dayparts": [daypart([1], "10:00", "11:00")]})
    default = playlist("idle", "idle-loop", campaign="house")
    inputs = make_inputs([ad], [playlist("a", "x"), default], default="idle")
    plan = build_plan(inputs)
    assert played(plan, utc(2026, 3, 2, 10, 30)) == ["x"]
    window = window_at(plan, utc(2026, 3, 2, 9))
    assert window is not None and window["fallback"] is True
    assert window["schedule_ids"] == []
    entry = plan["items"][window["sequence"][0]]
    assert entry["schedule_id"] is None
    assert entry["playlist_id"] == str(uid("playlist:idle"))
    assert entry["campaign_id"] == str(uid("campaign:house"))
    assert window["campaign_ids"] == [str(uid("campaign:house"))]
    assert plan["windows"][0]["start"] == plan["valid_from"]
    assert plan["windows"][-1]["end"] == plan["valid_to"]


def test_without_a_default_playlist_gaps_have_no_window() -> None:
    ad = schedule("ad", "a", rules={"dayparts": [daypart([1], "10:00", "11:00")]})
    plan = build_plan(make_inputs([ad], [playlist("a", "x")]))
    assert played(plan, utc(2026, 3, 2, 9)) == []
    assert [(w["start"], w["end"]) for w in plan["windows"]] == [
        ("2026-03-02T10:00:00Z", "2026-03-02T11:00:00Z")
    ]
    empty = build_plan(make_inputs([], []))
    assert empty["windows"] == [] and empty["items"] == [] and empty["caps"] == []


def test_an_empty_or_missing_playlist_never_blacks_out_a_lower_schedule() -> None:
    empty = schedule("empty", "nothing", priority=9)
    missing = schedule("missing", "gone", priority=9)
    low = schedule("low", "a")
    no_items = PlaylistInput(id=uid("playlist:nothing"), campaign_id=None, items=())
    plan = build_plan(make_inputs([empty, missing, low], [no_items, playlist("a", "x")]))
    assert owners(plan, MONDAY_NOON) == ["low"]


def test_disabled_schedules_are_ignored() -> None:
    off = schedule("off", "b", priority=9, enabled=False)
    plan = build_plan(
        make_inputs([off, schedule("on", "a")], [playlist("a", "x"), playlist("b", "y")])
    )
    assert owners(plan, MONDAY_NOON) == ["on"]


def test_adjacent_segments_with_the_same_owner_are_one_window() -> None:
    split = schedule(
        "split",
        "a",
        priority=5,
        rules={"dayparts": [daypart([1], "09:00", "12:00"), daypart([1], "12:00", "15:00")]},
    )
    under = schedule("under", "b", priority=0, rules={"dayparts": [daypart([1], "10:00", "11:00")]})
    plan = build_plan(make_inputs([split, under], [playlist("a", "x"), playlist("b", "y")]))
    assert [(w["start"], w["end"]) for w in plan["windows"]] == [
        ("2026-03-02T09:00:00Z", "2026-03-02T15:00:00Z")
    ]


def test_items_play_in_position_order_whatever_the_row_order() -> None:
    rows = (
        item("third", position=2, playlist="a"),
        item("first", position=0, playlist="a"),
        item("second", position=1, playlist="a"),
    )
    shuffled = PlaylistInput(id=uid("playlist:a"), campaign_id=None, items=rows)
    plan = build_plan(make_inputs([schedule("s", "a")], [shuffled]))
    assert played(plan, MONDAY_NOON) == ["first", "second", "third"]


def test_windows_split_at_store_dst_changes_with_their_offsets() -> None:
    always = schedule("always", "a")
    inputs = make_inputs(
        [always], [playlist("a", "x")], now=utc(2026, 3, 28, 12), store_tz="Europe/Berlin"
    )
    plan = build_plan(inputs)
    assert [(w["start"], w["end"], w["utc_offset_minutes"]) for w in plan["windows"]] == [
        ("2026-03-28T00:00:00Z", "2026-03-29T01:00:00Z", 60),
        ("2026-03-29T01:00:00Z", plan["valid_to"], 120),
    ]


def test_schedule_timezone_overrides_the_store_but_offsets_stay_store_local() -> None:
    ny = schedule(
        "ny", "a", tz="America/New_York", rules={"dayparts": [daypart([1], "09:00", "11:00")]}
    )
    local = schedule("local", "b", rules={"dayparts": [daypart([1], "09:00", "11:00")]})
    inputs = make_inputs(
        [ny, local], [playlist("a", "x"), playlist("b", "y")], store_tz="Europe/Berlin"
    )
    plan = build_plan(inputs)
    assert owners(plan, utc(2026, 3, 2, 8, 30)) == ["local"]
    assert owners(plan, utc(2026, 3, 2, 14, 30)) == ["ny"]
    window = window_at(plan, utc(2026, 3, 2, 14, 30))
    assert window is not None and window["utc_offset_minutes"] == 60


def test_weights_of_a_single_playlist_are_carried_for_the_player() -> None:
    plan = build_plan(make_inputs([schedule("s", "a")], [playlist("a", ("x", 2), "y")]))
    window = window_at(plan, MONDAY_NOON)
    assert window is not None
    assert [plan["items"][i]["weight"] for i in window["sequence"]] == [2, 1]


def test_same_playlist_in_two_tied_schedules_keeps_both_schedule_ids() -> None:
    s1 = schedule("s1", "a")
    s2 = replace(schedule("s2", "a"), campaign_id=uid("campaign:c2"))
    plan = build_plan(make_inputs([s1, s2], [playlist("a", "x")]))
    window = window_at(plan, MONDAY_NOON)
    assert window is not None
    entries = [plan["items"][i] for i in window["sequence"]]
    assert sorted(e["schedule_id"] for e in entries) == sorted(
        str(uid(f"schedule:{n}")) for n in ("s1", "s2")
    )
    assert window["campaign_ids"] == [str(uid("campaign:c2"))]


def test_all_week_group_schedule_covers_the_whole_horizon() -> None:
    plan = build_plan(
        make_inputs(
            [schedule("s", "a", rules={"dayparts": [daypart(ALL_WEEK, "00:00", "00:00")]})],
            [playlist("a", "x")],
        )
    )
    assert [(w["start"], w["end"]) for w in plan["windows"]] == [
        (plan["valid_from"], plan["valid_to"])
    ]
