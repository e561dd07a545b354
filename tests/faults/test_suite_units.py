"""The fault suite's arithmetic and its doc update, without any server."""

from __future__ import annotations

from pathlib import Path

from core.config import Settings
from faults import report
from faults.measure import traffic
from faults.suite import reconcile_bound_s


def test_traffic_counts_errors_by_status_and_seconds_with_errors() -> None:
    timeline = [
        (100, {"200": 10, "304": 5}),
        (101, {"200": 3, "503": 4, "connect_error": 1}),
        (102, {"200": 9}),
        (105, {"503": 2}),
        (106, {"200": 8}),
    ]
    seen = traffic(timeline, recovered_at=104.5)
    assert seen.requests == 42
    assert seen.errors == {"503": 6, "connect_error": 1}
    assert seen.unavailable_s == 2
    assert seen.recover_s == 1.5  # the second 105 ended 1.5 s after the fault was undone


def test_errors_only_before_the_fault_was_undone_recover_in_no_time() -> None:
    seen = traffic([(100, {"503": 3}), (101, {"200": 3})], recovered_at=101.0)
    assert (seen.unavailable_s, seen.recover_s) == (1, 0.0)
    assert traffic([], recovered_at=None).recover_s is None


def test_the_stale_bound_is_the_longer_of_the_relay_and_the_walk_plus_the_work() -> None:
    settings = Settings.model_validate(
        {
            "PLAN_OUTBOX_RELAY_EVERY_S": 5,
            "PLAN_OUTBOX_REDISPATCH_S": 10,
            "PLAN_RECONCILE_EVERY_S": 20,
            "PLAN_RECONCILE_DEVICES": 100,
        }
    )
    assert reconcile_bound_s(settings, 100)[0] == 30.0  # max(15, 1 x 20) + 10
    assert reconcile_bound_s(settings, 301)[0] == 90.0  # max(15, 4 x 20) + 10


def test_the_last_run_replaces_the_marked_section_only(tmp_path: Path) -> None:
    doc = tmp_path / "reliability.md"
    doc.write_text(f"# Title\n\nkept\n\n{report.BEGIN}\nold table\n{report.END}\n\ntail\n")
    report.write_into(doc, "new table\n")
    assert doc.read_text() == (
        f"# Title\n\nkept\n\n{report.BEGIN}\nnew table\n{report.END}\n\ntail\n"
    )
    fresh = tmp_path / "fresh.md"
    report.write_into(fresh, "first\n")
    assert fresh.read_text() == f"{report.BEGIN}\nfirst\n{report.END}\n"
