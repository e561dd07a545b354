"""Plan JSON, horizon anchoring, caps, canonical bytes and ETag behaviour."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

import orjson
import pytest

from core.scheduling import (
    DeviceContext,
    Horizon,
    PlanInputs,
    PlaylistInput,
    build_plan,
    canonical_json,
    etag_for,
    etag_for_bytes,
    horizon_for,
    needs_roll,
    parse_rules,
)
from core.scheduling.horizon import LOOKAHEAD
from tests.scheduling.builders import (
    DEVICE,
    daypart,
    item,
    make_inputs,
    name_of,
    playlist,
    schedule,
    uid,
    utc,
    window_at,
)

NOW = utc(2026, 3, 2, 10)
ITEM_FIELDS = {
    "content_id", "version", "url", "sha256", "bytes", "mime", "duration_ms", "weight",
    "caps", "playlist_id", "schedule_id", "campaign_id",
}  # fmt: skip
WINDOW_FIELDS = {
    "start", "end", "utc_offset_minutes", "fallback", "schedule_ids", "playlist_ids",
    "campaign_ids", "sequence",
}  # fmt: skip


def base_inputs(now: datetime = NOW) -> PlanInputs:
    ads = schedule(
        "ads",
        "a",
        priority=5,
        campaign="spring",
        rules={
            "dayparts": [daypart([1, 2, 3, 4, 5], "09:00", "17:00")],
            "frequency_caps": [{"scope": "ITEM", "max_plays": 4, "per_seconds": 3600}],
        },
    )
    # Nights fall back to the default playlist.
    loop = schedule(
        "loop", "b", rules={"dayparts": [daypart([1, 2, 3, 4, 5, 6, 7], "06:00", "22:00")]}
    )
    return make_inputs(
        [ads, loop],
        [playlist("a", "x", ("y", 2)), playlist("b", "z"), playlist("idle", "i")],
        now=now,
        store_tz="Europe/Berlin",
        default="idle",
    )


def test_plan_shape_and_fields() -> None:
    plan = build_plan(base_inputs())
    assert set(plan) == {
        "version",
        "valid_from",
        "valid_to",
        "timezone",
        "items",
        "windows",
        "caps",
    }
    assert plan["version"] == 1
    assert plan["valid_from"] == "2026-03-02T00:00:00Z"
    assert plan["valid_to"] == "2026-03-06T06:00:00Z"
    assert plan["timezone"] == "Europe/Berlin"
    for entry in plan["items"]:
        assert set(entry) == ITEM_FIELDS
    for window in plan["windows"]:
        assert set(window) == WINDOW_FIELDS
        assert window["start"].endswith("Z") and window["end"].endswith("Z")
        assert all(0 <= i < len(plan["items"]) for i in window["sequence"])
    x = next(e for e in plan["items"] if name_of(e["content_id"]) == "x")
    assert x["url"] == "https://cdn.example/x/v1"
    assert x["version"] == 1 and x["bytes"] == 1001 and x["mime"] == "video/mp4"
    assert x["duration_ms"] == 10_000 and len(x["sha256"]) == 64
    assert x["campaign_id"] == str(uid("campaign:spring"))


@pytest.mark.parametrize("minutes", [0, 1, 59, 600, 1439])
def test_at_least_72_hours_are_covered_at_any_moment(minutes: int) -> None:
    now = utc(2026, 3, 2) + timedelta(minutes=minutes, seconds=59 if minutes else 0)
    plan = build_plan(base_inputs(now))
    end = datetime.fromisoformat(plan["valid_to"])
    assert plan["windows"][0]["start"] <= now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert end - now > LOOKAHEAD


def test_horizon_is_anchored_and_rolls_only_at_the_boundary() -> None:
    assert horizon_for(utc(2026, 3, 2, 0, 0, 1)) == horizon_for(utc(2026, 3, 2, 23, 59, 59))
    assert horizon_for(utc(2026, 3, 3)).start == utc(2026, 3, 3)
    stale = horizon_for(utc(2026, 3, 2, 12))
    assert not needs_roll(stale.end, utc(2026, 3, 2, 23, 59))
    assert needs_roll(stale.end, utc(2026, 3, 3, 0, 0, 1))
    # Within the grace period yesterday's plan still covers 72 h.
    assert stale.end - utc(2026, 3, 3, 6) >= LOOKAHEAD


def test_same_inputs_same_bytes_and_etag_all_day() -> None:
    early = build_plan(base_inputs(utc(2026, 3, 2, 0, 0, 1)))
    late = build_plan(base_inputs(utc(2026, 3, 2, 23, 59, 59)))
    assert canonical_json(early) == canonical_json(late)
    assert etag_for(early) == etag_for(late)
    tomorrow = build_plan(base_inputs(utc(2026, 3, 3, 0, 0, 1)))
    assert etag_for(tomorrow) != etag_for(early)


def test_etag_format_and_json_round_trip() -> None:
    plan = build_plan(base_inputs())
    tag = etag_for(plan)
    assert tag.startswith("sha256-") and len(tag) == len("sha256-") + 32 and '"' not in tag
    assert etag_for_bytes(canonical_json(plan)) == tag
    # As stored in JSONB and read back (key order lost): same bytes, same ETag.
    reloaded = orjson.loads(orjson.dumps(plan))
    assert etag_for(reloaded) == tag
    assert canonical_json(plan) == orjson.dumps(plan, option=orjson.OPT_SORT_KEYS)
    assert b" " not in canonical_json(plan).replace(b"Europe/Berlin", b"")


def shuffled(inputs: PlanInputs, seed: int) -> PlanInputs:
    rng = random.Random(seed)
    playlists = [
        PlaylistInput(p.id, p.campaign_id, tuple(rng.sample(p.items, len(p.items))))
        for p in inputs.playlists
    ]
    return replace(
        inputs,
        schedules=tuple(rng.sample(inputs.schedules, len(inputs.schedules))),
        playlists=tuple(rng.sample(playlists, len(playlists))),
    )


@pytest.mark.parametrize("seed", range(5))
def test_input_order_does_not_matter(seed: int) -> None:
    inputs = base_inputs()
    other = shuffled(inputs, seed)
    assert canonical_json(build_plan(other)) == canonical_json(build_plan(inputs))
    assert other.inputs_hash() == inputs.inputs_hash()


def _swap(inputs: PlanInputs, name: str, **changes: object) -> PlanInputs:
    target = uid(f"schedule:{name}")
    schedules = tuple(replace(s, **changes) if s.id == target else s for s in inputs.schedules)  # type: ignore[arg-type]
    return replace(inputs, schedules=schedules)


def _playlist(inputs: PlanInputs, name: str, new: PlaylistInput) -> PlanInputs:
    target = uid(f"playlist:{name}")
    return replace(inputs, playlists=tuple(new if p.id == target else p for p in inputs.playlists))


def _device(inputs: PlanInputs, **changes: object) -> PlanInputs:
    return replace(inputs, device=replace(inputs.device, **changes))  # type: ignore[arg-type]


def _bumped_x() -> PlaylistInput:
    """Playlist "a" with content x at version 2 (a follow-latest item after an upload)."""
    items = (item("x", playlist="a", version=2), item("y", position=1, weight=2, playlist="a"))
    return PlaylistInput(uid("playlist:a"), None, items)


Mutation = Callable[[PlanInputs], PlanInputs]

CHANGES_WHAT_PLAYS: dict[str, Mutation] = {
    "new content version": lambda i: _playlist(i, "a", _bumped_x()),
    "item weight": lambda i: _playlist(i, "a", playlist("a", "x", ("y", 3))),
    "item removed": lambda i: _playlist(i, "a", playlist("a", "x")),
    "priority flip": lambda i: _swap(i, "loop", priority=9),
    "daypart moved": lambda i: _swap(
        i, "ads", rules=parse_rules({"dayparts": [daypart([1], "10:00", "17:00")]})
    ),
    "exclusion added": lambda i: _swap(
        i,
        "ads",
        rules=parse_rules(
            {"dayparts": [daypart([1, 2, 3, 4, 5], "09:00", "17:00")], "exclusions": ["2026-03-03"]}
        ),
    ),
    "cap changed": lambda i: _swap(
        i,
        "ads",
        rules=parse_rules(
            {
                "dayparts": [daypart([1, 2, 3, 4, 5], "09:00", "17:00")],
                "frequency_caps": [{"scope": "ITEM", "max_plays": 5, "per_seconds": 3600}],
            }
        ),
    ),
    "schedule disabled": lambda i: _swap(i, "ads", enabled=False),
    "campaign ended": lambda i: _swap(
        i, "ads", campaign_start=date(2026, 1, 1), campaign_end=date(2026, 3, 3)
    ),
    "validity": lambda i: _swap(i, "ads", valid_to=date(2026, 3, 4)),
    "schedule timezone": lambda i: _swap(i, "ads", timezone="America/New_York"),
    "target specificity": lambda i: _swap(i, "loop", target_type=DEVICE, priority=5),
    "store timezone": lambda i: _device(i, store_timezone="Europe/London"),
    "default playlist gone": lambda i: _device(i, default_playlist_id=None),
    "default playlist content": lambda i: _playlist(i, "idle", playlist("idle", "i", "j")),
}


@pytest.mark.parametrize("change", sorted(CHANGES_WHAT_PLAYS))
def test_any_change_to_what_plays_changes_the_etag(change: str) -> None:
    inputs = base_inputs()
    changed = CHANGES_WHAT_PLAYS[change](inputs)
    assert etag_for(build_plan(changed)) != etag_for(build_plan(inputs))
    assert changed.inputs_hash() != inputs.inputs_hash()


def test_changes_that_do_not_alter_what_plays_keep_the_hash_and_etag() -> None:
    inputs = base_inputs()
    extra = [schedule("dormant", "b", priority=99, enabled=False)]
    same = [
        replace(inputs, schedules=inputs.schedules + tuple(extra)),
        replace(inputs, playlists=(*inputs.playlists, playlist("unused", "q"))),
        _device(inputs, device_id=uid("device:other"), group_id=uid("group:2")),
    ]
    for other in same:
        assert other.inputs_hash() == inputs.inputs_hash()
        assert etag_for(build_plan(other)) == etag_for(build_plan(inputs))


def test_device_id_is_not_part_of_the_hash_but_target_type_is() -> None:
    one = base_inputs()
    two = PlanInputs(
        device=DeviceContext(uid("device:two"), None, "Europe/Berlin", uid("playlist:idle")),
        schedules=one.schedules,
        playlists=one.playlists,
        horizon=one.horizon,
    )
    assert one.inputs_hash() == two.inputs_hash()
    assert _swap(one, "loop", target_type=DEVICE).inputs_hash() != one.inputs_hash()


def test_any_range_can_be_previewed_for_a_group() -> None:
    """The console's preview: same engine, a custom horizon, no device."""
    inputs = base_inputs()
    preview = replace(
        inputs,
        device=DeviceContext(None, uid("group:1"), "Europe/Berlin", uid("playlist:idle")),
        horizon=Horizon(utc(2026, 3, 2, 7, 30), utc(2026, 3, 2, 12)),
    )
    plan = build_plan(preview)
    assert [(w["start"], w["end"], w["fallback"]) for w in plan["windows"]] == [
        ("2026-03-02T07:30:00Z", "2026-03-02T08:00:00Z", False),  # loop (06-22 local)
        ("2026-03-02T08:00:00Z", "2026-03-02T12:00:00Z", False),  # ads (09-17 local)
    ]
    assert [name_of(s) for s in plan["windows"][1]["schedule_ids"]] == ["ads"]


def test_duplicate_schedules_are_a_loader_bug() -> None:
    inputs = base_inputs()
    with pytest.raises(ValueError, match="twice"):
        replace(inputs, schedules=inputs.schedules + inputs.schedules[:1])
    with pytest.raises(ValueError, match="twice"):
        replace(inputs, playlists=inputs.playlists + inputs.playlists[:1])


# --- caps ------------------------------------------------------------------------------------


def test_caps_are_carried_and_referenced_by_the_items_they_gate() -> None:
    x_id = str(uid("content:x"))
    ads = schedule(
        "ads",
        "a",
        priority=1,
        campaign="spring",
        rules={
            "frequency_caps": [
                {"scope": "ITEM", "max_plays": 2, "per_seconds": 600, "content_id": x_id},
                {"scope": "CAMPAIGN", "max_plays": 10, "per_seconds": 3600},
            ]
        },
    )
    # Same campaign, same campaign cap: one shared counter; it gates this schedule's items too.
    more = schedule(
        "more",
        "b",
        priority=1,
        campaign="spring",
        rules={"frequency_caps": [{"scope": "CAMPAIGN", "max_plays": 10, "per_seconds": 3600}]},
    )
    # No campaign: a CAMPAIGN cap counts this schedule's plays.
    solo = schedule(
        "solo",
        "c",
        priority=1,
        rules={"frequency_caps": [{"scope": "CAMPAIGN", "max_plays": 3, "per_seconds": 60}]},
    )
    inputs = make_inputs(
        [ads, more, solo], [playlist("a", "x", "y"), playlist("b", "z"), playlist("c", "w")]
    )
    plan = build_plan(inputs)
    caps = {c["id"]: c for c in plan["caps"]}
    assert len(caps) == 3
    by_kind = {
        (c["scope"], c["content_id"] is not None, c["campaign_id"] is not None): c
        for c in caps.values()
    }
    item_cap = by_kind[("ITEM", True, False)]
    campaign_cap = by_kind[("CAMPAIGN", False, True)]
    schedule_cap = by_kind[("CAMPAIGN", False, False)]
    assert (
        item_cap["content_id"] == x_id
        and item_cap["max_plays"] == 2
        and item_cap["per_seconds"] == 600
    )
    assert campaign_cap["campaign_id"] == str(uid("campaign:spring"))
    assert campaign_cap["declared_by"] == sorted(
        [str(uid("schedule:ads")), str(uid("schedule:more"))]
    )
    assert schedule_cap["schedule_id"] == str(uid("schedule:solo"))

    gates = {name_of(e["content_id"]): set(e["caps"]) for e in plan["items"]}
    assert gates == {
        "x": {item_cap["id"], campaign_cap["id"]},
        "y": {campaign_cap["id"]},
        "z": {campaign_cap["id"]},
        "w": {schedule_cap["id"]},
    }


def test_cap_ids_are_stable_across_regenerations() -> None:
    first = build_plan(base_inputs(utc(2026, 3, 2, 10)))
    second = build_plan(base_inputs(utc(2026, 3, 3, 10)))
    assert [c["id"] for c in first["caps"]] == [c["id"] for c in second["caps"]]
    assert len(first["caps"]) == 1 and first["caps"][0]["scope"] == "ITEM"


def test_caps_of_schedules_that_never_own_time_are_left_out() -> None:
    hidden = schedule(
        "hidden",
        "a",
        priority=-1,
        rules={"frequency_caps": [{"scope": "ITEM", "max_plays": 1, "per_seconds": 60}]},
    )
    plan = build_plan(
        make_inputs([hidden, schedule("top", "b")], [playlist("a", "x"), playlist("b", "y")])
    )
    assert plan["caps"] == []
    window = window_at(plan, NOW)
    assert window is not None and plan["items"][window["sequence"][0]]["caps"] == []
