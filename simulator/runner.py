"""One simulation run, start to finish: set up, pair, run the fleet, drain, reconcile, report.

Every player lives in this one process as a few coroutines sharing one HTTP connection pool,
so thousands of players cost little more than their requests. The event loop's own lag is
reported with the progress: when the simulator itself is the bottleneck, it says so instead
of blaming the server's latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import random
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simulator.config import DEFAULT_CONTENT, ContentSpec, SimulationConfig
from simulator.console import ConsoleClient, ConsoleError
from simulator.device import DeviceSession, PlayerFailed
from simulator.fleet_setup import FleetPlacement, create_claims, prepare_placement
from simulator.player import Player
from simulator.records import AckedLog
from simulator.report import (
    TotalsCheck,
    print_check,
    print_endpoints,
    reconcile,
    summary_dict,
)
from simulator.stats import FleetStats
from simulator.transport import FleetHttp, Unreachable

Printer = Callable[[str], None]

SNIFFIO_WARNING = (
    "warning: sniffio is not installed; httpcore then retries `import sniffio` on every "
    "request (encode/httpcore#1103), which costs the simulator ~0.5 ms of CPU per request"
)


@dataclass
class RunResult:
    stats: FleetStats
    placement: FleetPlacement | None = None
    check: TotalsCheck | None = None
    setup_error: str | None = None
    players: list[Player] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.setup_error is None
            and self.check is not None
            and self.check.ok
            and self.stats.errors == 0
            and self.stats.anomalies == 0
            and self.stats.players_failed == 0
        )

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def as_dict(self) -> dict[str, Any]:
        return summary_dict(self.stats, self.check, ok=self.ok, setup_error=self.setup_error)


def run_name() -> str:
    return f"sim-{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


def device_info(name: str, index: int) -> dict[str, object]:
    return {
        "model": "SimPlayer 1",
        "manufacturer": "alive-signage simulator",
        "serial_number": f"{name}-{index:05d}",
        "os": "linux",
        "os_version": "6.1",
        "player_version": "sim-1.0.0",
        "storage_total_bytes": 32 * 1024**3,
        "screen": {"width_px": 1920, "height_px": 1080, "orientation": "landscape"},
    }


class LoopLag:
    """The worst event-loop delay since the last reading: the simulator's own saturation."""

    def __init__(self, period_s: float = 0.25) -> None:
        self._period = period_s
        self.worst_s = 0.0

    async def run(self) -> None:
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self._period)
            self.worst_s = max(self.worst_s, time.perf_counter() - started - self._period)

    def take(self) -> float:
        worst, self.worst_s = self.worst_s, 0.0
        return worst


class Simulation:
    def __init__(
        self,
        config: SimulationConfig,
        *,
        out: Printer = print,
        content: tuple[ContentSpec, ...] = DEFAULT_CONTENT,
    ) -> None:
        self.config = config
        self.out = out if not config.quiet else (lambda _line: None)
        self.report_out = out
        self.content = content
        self.stats = FleetStats()
        self.rng = random.Random(config.seed)
        self.stopping = asyncio.Event()
        self.players: list[Player] = []
        self.lag = LoopLag()
        self.http: FleetHttp | None = None
        self.acked_log: AckedLog | None = None
        self._cpu_started = time.process_time()
        self._wall_started = time.monotonic()

    async def pair(self, client: FleetHttp, name: str, codes: list[str]) -> None:
        gate = asyncio.Semaphore(self.config.pairing_concurrency)

        async def pair_one(index: int, code: str) -> None:
            rng = random.Random(self.rng.getrandbits(64))
            session = DeviceSession(client, self.stats, self.config, device_info(name, index), rng)
            async with gate:
                try:
                    await session.claim(code)
                except PlayerFailed as exc:
                    self.stats.fail(f"player {index}: {exc}")
                    return
            self.stats.players_paired += 1
            self.players.append(
                Player(index, session, self.stats, self.config, rng, self.stopping, self.acked_log)
            )

        started = time.monotonic()
        task = asyncio.gather(*(pair_one(i, code) for i, code in enumerate(codes)))
        while not task.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self.config.progress_interval_s)
            elapsed = time.monotonic() - started
            self.out(
                f"pairing  {self.stats.players_paired}/{len(codes)} paired, "
                f"{self.stats.players_failed} failed, {elapsed:.1f}s"
            )
        await task
        self.players.sort(key=lambda p: p.index)

    def progress_line(self, elapsed: float, last: tuple[float, int]) -> tuple[float, int]:
        now, requests = time.monotonic(), self.stats.requests
        rate = (requests - last[1]) / max(now - last[0], 1e-9)
        ledger = self.stats.ledger
        buffered = sum(len(p.uploader.buffer) for p in self.players)
        self.out(
            f"[{elapsed:6.0f}s] requests {requests} ({rate:.0f}/s)  errors {self.stats.errors}  "
            f"events sent {ledger.generated} acked {ledger.acked} buffered {buffered}  "
            f"failed players {self.stats.players_failed}  loop lag {self.lag.take() * 1000:.0f} ms"
            f"  queue {self._take_queue_wait() * 1000:.0f} ms"
        )
        return now, requests

    def _take_queue_wait(self) -> float:
        """The longest wait for a free connection since the last reading (simulator side)."""
        if self.http is None:
            return 0.0
        worst, self.http.worst_queue_s = self.http.worst_queue_s, 0.0
        return worst

    async def run_fleet(self) -> None:
        count = max(len(self.players), 1)
        ramp = self.config.effective_ramp_s
        tasks = {
            asyncio.create_task(player.run(ramp * i / count)): player
            for i, player in enumerate(self.players)
        }
        started = time.monotonic()
        last = (started, self.stats.requests)
        deadline = started + self.config.duration_s
        while (remaining := deadline - time.monotonic()) > 0:
            await asyncio.sleep(min(self.config.progress_interval_s, remaining))
            last = self.progress_line(time.monotonic() - started, last)
        self.stopping.set()
        await self._settle(tasks)
        await self.drain()
        self.progress_line(time.monotonic() - started, last)

    async def _settle(self, tasks: dict[asyncio.Task[None], Player]) -> None:
        """Wait for the players' loops to end; a player that failed is counted as failed."""
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=self.config.request_timeout_s * 2)
        for task in pending:
            task.cancel()
        for task in done:
            exc = task.exception()
            if exc is not None:
                self.stats.fail(f"player {tasks[task].index}: {type(exc).__name__}: {exc}")

    async def drain(self) -> None:
        """Let every player upload what it still buffers, bounded by `drain_timeout_s`."""
        uploads = {p.upload_task: p for p in self.players if p.upload_task is not None}
        self.out(f"draining {sum(len(p.uploader.buffer) for p in self.players)} buffered events")
        if not uploads:
            return
        done, pending = await asyncio.wait(uploads, timeout=self.config.drain_timeout_s)
        for task in pending:
            task.cancel()
        for task in done:
            exc = task.exception()
            if exc is not None:
                self.stats.fail(f"player {uploads[task].index} upload: {exc}")
        if pending:
            self.stats.fail(f"{len(pending)} players could not upload everything in time")

    async def run(self) -> RunResult:
        config, result = self.config, RunResult(self.stats)
        name = config.name or run_name()
        if config.acked_log:
            self.acked_log = AckedLog(config.acked_log)
        lag_task = asyncio.create_task(self.lag.run())
        try:
            async with FleetHttp(
                max_connections=config.concurrency, timeout_s=config.request_timeout_s
            ) as client:
                self.http = client
                if importlib.util.find_spec("sniffio") is None:
                    self.out(SNIFFIO_WARNING)
                console = ConsoleClient(
                    client,
                    self.stats,
                    config.api_url,
                    email=config.admin_email,
                    password=config.admin_password,
                )
                try:
                    result.placement = placement = await prepare_placement(
                        console, client, config, name, self.content
                    )
                    api_before = await console.proof_of_play_totals(placement.campaign_id)
                    csv_before = await console.csv_totals(placement.campaign_id)
                    self.out(
                        f"run {name}: group {placement.group_id}, campaign "
                        f"{placement.campaign_id}, {len(placement.store_ids)} stores"
                        f"{' (reused)' if placement.reused else ''}"
                    )
                    names = [f"{name}-{i:05d}" for i in range(config.devices)]
                    codes = await create_claims(console, placement, names, config.devices_per_store)
                except (ConsoleError, Unreachable) as exc:
                    result.setup_error = str(exc)
                    self.report_out(f"setup failed: {exc}")
                    return result
                await self.pair(client, name, codes)
                self.out(
                    f"running {len(self.players)} players for {config.duration_s:.0f}s "
                    f"(speed x{config.speed:g}, ramp {config.effective_ramp_s:g}s)"
                )
                await self.run_fleet()
                left = sum(len(p.uploader.buffer) for p in self.players)
                try:
                    api_after = await console.proof_of_play_totals(placement.campaign_id)
                    csv_after = await console.csv_totals(placement.campaign_id)
                except (ConsoleError, Unreachable) as exc:
                    result.setup_error = f"reading the report failed: {exc}"
                    self.report_out(result.setup_error)
                    return result
                result.check = reconcile(
                    self.stats.ledger, api_before, api_after, csv_before, csv_after, left
                )
        finally:
            lag_task.cancel()
            result.players = self.players
            if self.acked_log is not None:
                self.acked_log.close()
        self.summarize(result)
        return result

    def summarize(self, result: RunResult) -> None:
        out, stats = self.report_out, self.stats
        out("")
        print_endpoints(stats, out)
        out("")
        if result.check is not None:
            print_check(result.check, stats.ledger, out)
        out(
            f"players paired {stats.players_paired}, failed {stats.players_failed}; "
            f"token refreshes {stats.token_refreshes}; plan downloads {stats.plan_downloads}"
        )
        cpu, wall = time.process_time() - self._cpu_started, time.monotonic() - self._wall_started
        out(
            f"simulator CPU {cpu:.0f} s over {wall:.0f} s ({cpu / max(wall, 1e-9):.0%} of one "
            "core): on a shared machine, that is CPU the stack did not get"
        )
        for message in stats.failures[:10]:
            out(f"  failure: {message}")
        for message in stats.anomaly_samples[:10]:
            out(f"  anomaly: {message}")
        for message in stats.error_samples:
            out(f"  failed request: {message}")
        verdict = "PASS" if result.ok else "FAIL"
        out(
            f"{verdict}: {stats.errors} errors ({stats.http_errors} HTTP, "
            f"{stats.transport_errors} without an answer), {stats.anomalies} anomalies, "
            f"totals {'match' if result.check and result.check.ok else 'do NOT match'}"
        )


async def simulate(config: SimulationConfig, *, out: Printer = print) -> RunResult:
    return await Simulation(config, out=out).run()
