"""An outage writes its cause once, then one counting line per interval, not a traceback per
503 (the fault suite counted 1,339 tracebacks for one 40 s database freeze)."""

from __future__ import annotations

from structlog.testing import capture_logs

from device_edge.errors import OutageLog


def _fail(outages: OutageLog, path: str) -> None:
    try:
        raise ConnectionRefusedError("the database is away")
    except ConnectionRefusedError:
        outages.record(path, "POST")


def test_one_line_with_the_cause_then_one_counting_line_per_interval() -> None:
    now = [100.0]
    outages = OutageLog(every_s=10.0, clock=lambda: now[0])
    with capture_logs() as logs:
        for second in range(25):
            now[0] = 100.0 + second
            for _ in range(40):  # 40 requests a second meet the outage
                _fail(outages, "/v1/device/heartbeat")
    lines = [e for e in logs if e["event"] == "backend unavailable"]
    assert len(lines) == 3  # at 0 s, 10 s and 20 s
    assert [e["answered_503_since_last_line"] for e in lines] == [0, 399, 399]
    assert all(e["log_level"] == "error" and e["exc_info"] for e in lines)
    assert lines[0]["path"] == "/v1/device/heartbeat"
