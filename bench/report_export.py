"""The CSV-export half of the report benchmark (used by bench/report_queries.py): the whole
year streamed over HTTP against `COPY ... TO STDOUT`, and the admin-API process's peak memory
while it streams.

Memory is measured on the server process itself, not in-process with tracemalloc: its peak
RSS (VmHWM, reset through /proc/<pid>/clear_refs right before the export; sampled every 10 ms
where that is not allowed) minus its RSS just before. That counts everything the export
allocates (asyncpg buffers, encoded chunks, the interpreter), which tracemalloc does not.
"""

from __future__ import annotations

import asyncio
import csv
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import asyncpg
import httpx

from bench.report_dataset import GQL_DIMENSIONS, ReportCase

CSV_PATH = "/v1/admin/reports/proof-of-play.csv"


class PeakRss:
    """Peak resident memory of another process during a block, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before = 0
        self.peak = 0
        self._exact = False
        self._sampler: asyncio.Task[None] | None = None

    def _status(self, field: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name == field:
                return int(rest.split()[0]) * 1024
        raise RuntimeError(f"no {field} for process {self.pid}")

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, self._status("VmRSS"))
            await asyncio.sleep(0.01)

    def start(self) -> None:
        self.before = self.peak = self._status("VmRSS")
        try:  # "5" resets VmHWM (the kernel's own peak RSS) to the current RSS
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")
            self._exact = True
        except OSError:
            self._sampler = asyncio.create_task(self._sample())

    async def stop(self) -> int:
        """The growth of the peak over the RSS at start, in bytes."""
        if self._sampler is not None:
            self._sampler.cancel()
        top = self._status("VmHWM") if self._exact else self.peak
        return max(0, top - self.before)


async def medians_s(
    actions: Sequence[Callable[[], Awaitable[object]]], repeats: int
) -> list[float]:
    """Median time of each action, the actions alternating (A, B, A, B, ...) after one
    warm-up each, so load drifting on a shared machine hits them alike."""
    for action in actions:
        await action()  # warm-up: query plans, caches, connections
    times: list[list[float]] = [[] for _ in actions]
    for _ in range(repeats):
        for action, samples in zip(actions, times, strict=True):
            started = time.perf_counter()
            await action()
            samples.append(time.perf_counter() - started)
    return [statistics.median(samples) for samples in times]


@dataclass
class ExportFigures:
    rows: int
    bytes: int
    api_s: float
    pg_s: float
    rss_before: int
    peak_growth: int
    totals_match: bool


async def _stream_to(
    client: httpx.AsyncClient, params: dict[str, str], token: str, sink: BinaryIO
) -> int:
    size = 0
    headers = {"Authorization": f"Bearer {token}"}
    async with client.stream("GET", CSV_PATH, params=params, headers=headers) as response:
        if response.status_code != 200:
            raise RuntimeError(f"CSV export answered {response.status_code}")
        async for chunk in response.aiter_raw():
            size += len(chunk)
            sink.write(chunk)  # a local temp file: cheaper than parsing while timing
    return size


def _csv_sums(sink: BinaryIO) -> tuple[int, dict[str, int]]:
    sink.seek(0)
    sums = {"plays": 0, "completed": 0, "starts": 0, "total_duration_ms": 0}
    rows = 0
    for row in csv.DictReader(line.decode("utf-8") for line in sink):
        rows += 1
        for name in sums:
            sums[name] += int(row[name])
    return rows, sums


async def measure_export(
    client: httpx.AsyncClient,
    conn: asyncpg.Connection,
    api_pid: int,
    case: ReportCase,
    token: str,
    repeats: int,
) -> ExportFigures:
    grouped, totals_sql, params = case.sql(limit=None)
    query = {"group_by": ",".join(GQL_DIMENSIONS[g].removesuffix("_id") for g in case.group_by)}
    if case.start and case.end:
        query.update({"from": case.start.isoformat(), "to": case.end.isoformat()})
    best_s, peak_growth, size, rss_before = float("inf"), 0, 0, 0
    with tempfile.TemporaryFile() as sink:
        for _ in range(repeats):
            sink.seek(0)
            sink.truncate()
            memory = PeakRss(api_pid)
            memory.start()
            started = time.perf_counter()
            size = await _stream_to(client, query, token, sink)
            best_s = min(best_s, time.perf_counter() - started)
            peak_growth = max(peak_growth, await memory.stop())
            rss_before = memory.before
        rows, sums = _csv_sums(sink)
    expected = await conn.fetchrow(totals_sql, *params)
    copied = [0]

    async def null_sink(chunk: bytes) -> None:
        copied[0] += len(chunk)

    async def copy() -> None:
        await conn.copy_from_query(grouped, *params, output=null_sink, format="csv", header=True)

    [pg_s] = await medians_s([copy], max(1, repeats - 1))
    totals_match = all(sums[name] == expected[name] for name in sums)
    return ExportFigures(rows, size, best_s, pg_s, rss_before, peak_growth, totals_match)
