"""What a run writes down for an outside judge (the fault-injection suite, `faults/`).

- `AckedLog`: every proof-of-play event id the edge acknowledged, one per line. An id is
  acknowledged when the edge answered 2xx for the batch holding it and did not list it in
  `errors`: the edge answers only after COMMIT, so each of these ids must be in PostgreSQL
  for ever after. The lines are appended and flushed batch by batch, so the file is exact
  even when the run is cut short, and "lost" (acknowledged ids missing from the database) is
  a set difference, not an estimate from totals.
- `write_timeline`: requests per wall-clock second and outcome, so a judge can line the
  fleet's errors up with the moment a fault was injected and undone.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

import orjson

from simulator.stats import FleetStats


class AckedLog:
    """Appends acknowledged event ids to a file, flushed after every batch."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._file: TextIO | None = self.path.open("a", encoding="ascii")
        self.written = 0

    def record(self, event_ids: Iterable[str]) -> None:
        if self._file is None:
            raise RuntimeError(f"{self.path} is closed")
        lines = "".join(f"{event_id}\n" for event_id in event_ids)
        if lines:
            self._file.write(lines)
            self._file.flush()
            self.written += lines.count("\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_acked(path: str | Path) -> list[str]:
    """The ids an `AckedLog` wrote (a torn last line, if any, is ignored)."""
    text = Path(path).read_text(encoding="ascii") if Path(path).exists() else ""
    return [line for line in text.split("\n") if len(line) == 36]


def write_timeline(stats: FleetStats, path: str | Path) -> None:
    """`{"seconds": [[unix_second, {outcome: count}], ...]}`, oldest first."""
    seconds = [
        [second, {str(outcome): count for outcome, count in outcomes.items()}]
        for second, outcomes in sorted(stats.timeline.items())
    ]
    Path(path).write_bytes(orjson.dumps({"seconds": seconds}))
