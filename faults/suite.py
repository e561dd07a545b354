"""One suite run: private servers, the four processes, then each fault under a simulated fleet.

Per fault: a fresh simulator run (its own stores, group, campaign and devices, so every
measurement is scoped to that fault) starts; once its players are paired and have played
for `warmup_s`, the fault is injected and undone; the run goes on for `tail_s` so players can
retry what they buffered, then drains. After the documented plan-reconciliation bound the
suite measures (`faults.measure`). Before the next fault, anything the last one left down is
started again (and said so).
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from core.config import Settings
from faults import measure
from faults.cluster import Cluster
from faults.scenarios import Fault, FaultContext, PlanChanger
from faults.stack import ADMIN_EMAIL, Stack
from simulator.records import read_acked

RUNNING_MARK = "running "  # the simulator's line once its players are paired
BOUND_MARGIN_S = 10.0  # the work itself after a trigger: a scheduler tick, a worker batch
NO_RECONCILIATION_BOUND_S = 60.0


@dataclass(frozen=True)
class SuiteOptions:
    devices: int = 150
    devices_per_store: int = 10
    warmup_s: float = 10.0  # counted from the last pairing; longer than the ramp
    ramp_s: float = 5.0  # players start spread over this long
    tail_s: float = 40.0
    speed: float = 10.0
    heartbeat_interval_s: int = 10
    upload_interval_s: float = 5.0
    plan_poll_s: float = 30.0
    backoff_max_s: float = 30.0
    concurrency: int = 50
    drain_timeout_s: float = 120.0
    # After the bound, how long a stale plan is watched to say when it did converge.
    converge_watch_s: float = 120.0

    @classmethod
    def short(cls) -> SuiteOptions:
        return cls(
            devices=20,
            devices_per_store=5,
            warmup_s=5.0,
            ramp_s=2.0,
            tail_s=15.0,
            backoff_max_s=5.0,
            concurrency=20,
            drain_timeout_s=60.0,
            converge_watch_s=60.0,
        )


@dataclass
class FaultResult:
    name: str
    title: str
    run_name: str
    traffic: measure.Traffic
    ledger: measure.Ledger | None = None
    staleness: measure.Staleness | None = None
    stale_bound_s: float = 0.0
    stale_bound_why: str = ""
    converged_after_s: float | None = None  # after the bound, when stale > 0 at the bound
    plans_current_after_s: float | None = None  # from the fault's end (or its change)
    readiness: measure.Readiness | None = None
    plans_before_change: int = 0  # the run's devices with a stored plan before the change
    plans_changed: int = 0  # of those, how many have another stored plan at the end
    p99_ms: dict[str, float] = field(default_factory=dict)  # per device endpoint
    wedged: dict[str, str] = field(default_factory=dict)
    actions: list[tuple[float, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    injected_at: float | None = None
    simulator_exit: int | None = None
    error: str | None = None  # the suite could not run or measure this fault

    @property
    def recover_s(self) -> float | None:
        """From the fault's undoing until the apps were ready and no player request failed."""
        spans = [self.traffic.recover_s]
        if self.readiness is not None:
            spans.append(self.readiness.ready_after_s)
        known = [span for span in spans if span is not None]
        return max(known) if known else None

    @property
    def passed(self) -> bool:
        return (
            self.error is None
            and self.ledger is not None
            and self.ledger.lost == 0
            and self.ledger.duplicated == 0
            and self.staleness is not None
            and self.staleness.stale == 0
            and not self.wedged
        )


def reconcile_bound_s(settings: Settings, devices: int) -> tuple[float, str]:
    """How long after a fault is undone (or a change committed) every plan must be current,
    per docs/plans.md: the outbox relay's bound, or the reconciliation's walk of the fleet,
    whichever is longer, plus the work itself."""
    # Read by name: a checkout without the outbox and the reconciliation has none of them.
    names = (
        "plan_outbox_redispatch_s",
        "plan_outbox_relay_every_s",
        "plan_reconcile_every_s",
        "plan_reconcile_devices",
    )
    values = [float(v) for v in (getattr(settings, name, None) for name in names) if v is not None]
    if len(values) != len(names):
        return NO_RECONCILIATION_BOUND_S, "60 s (no plan reconciliation in this checkout)"
    redispatch, relay_every, reconcile_every, per_pass = values
    relay = redispatch + relay_every
    walk = math.ceil(max(devices, 1) / per_pass) * reconcile_every
    bound = max(relay, walk) + BOUND_MARGIN_S
    why = (
        f"{bound:g} s = max(PLAN_OUTBOX_REDISPATCH_S {redispatch:g} + PLAN_OUTBOX_RELAY_EVERY_S "
        f"{relay_every:g}, reconciliation walk {walk:g}) + {BOUND_MARGIN_S:g} s"
    )
    return bound, why


class Suite:
    def __init__(
        self, work_dir: Path, options: SuiteOptions, *, out: Callable[[str], None] = print
    ) -> None:
        self.work_dir = work_dir
        self.options = options
        self.out = out
        self.cluster = Cluster(work_dir)
        self.stack: Stack | None = None
        self.devices_so_far = 0
        self.started_at = datetime.now(UTC)

    # --- set-up and tear-down ------------------------------------------------------------

    def start(self) -> Stack:
        self.out(f"faults: private servers and logs in {self.work_dir}")
        self.cluster.start()
        self.stack = stack = Stack(self.work_dir, self.cluster.database_url, self.cluster.redis_url)
        stack.prepare()
        stack.start()
        self.out(f"faults: stack ready (api {stack.api_url}, edge {stack.edge_url})")
        return stack

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()
        self.cluster.stop()

    def heal(self) -> list[str]:
        """Start whatever the last fault left down; what had to be started."""
        stack = self._stack()
        healed = []
        if (
            self.cluster.postgres.process is None
            or self.cluster.postgres.process.poll() is not None
        ):
            self.cluster.postgres.start()
            healed.append("postgres")
        if self.cluster.postgres.frozen:
            self.cluster.postgres.thaw()
            healed.append("postgres (thawed)")
        if self.cluster.redis.process is None or self.cluster.redis.process.poll() is not None:
            self.cluster.redis.start()
            healed.append("redis")
        for kind, process in stack.processes.items():
            if not process.alive:
                process.start()
                healed.append(kind)
        stack.wait_ready()
        return healed

    def _stack(self) -> Stack:
        if self.stack is None:
            raise RuntimeError("start() first")
        return self.stack

    # --- one fault -----------------------------------------------------------------------

    def bound(self) -> tuple[float, str]:
        settings = Settings.model_validate(self._stack().settings)
        return reconcile_bound_s(settings, self.devices_so_far + self.options.devices)

    async def run_fault(self, fault: Fault, index: int) -> FaultResult:
        stack, options = self._stack(), self.options
        run_name = f"faults-{fault.name}-{datetime.now(UTC):%H%M%S}"
        files = self.work_dir / "runs" / fault.name
        files.mkdir(parents=True, exist_ok=True)
        acked, timeline, log = files / "acked.log", files / "timeline.json", files / "simulator.log"
        duration = options.warmup_s + fault.hold_s + options.tail_s
        bound, bound_why = self.bound()
        result = FaultResult(
            fault.name, fault.title, run_name, measure.Traffic(), stale_bound_s=bound
        )
        self.out(
            f"faults: [{fault.name}] {fault.title}: fleet of {options.devices} for {duration:.0f}s"
        )
        simulator = self._start_simulator(run_name, duration, index, acked, timeline, log)
        changer = PlanChanger(stack.api_url, ADMIN_EMAIL, stack.admin_password)
        ctx = FaultContext(self.cluster, stack, changer)
        engine = measure.measuring_engine(self.cluster.database_url)
        watches: list[asyncio.Future[Any]] = []
        before_change: dict[uuid.UUID, str] = {}
        try:
            if not await _wait_for_line(log, RUNNING_MARK, simulator, timeout_s=240):
                result.error = f"the simulator never got its fleet running; see {log}"
            else:
                await changer.prepare(run_name)
                await asyncio.sleep(options.warmup_s)
                before_change = await measure.stored_etags(engine, run_name)
                readiness = asyncio.ensure_future(
                    measure.probe_readiness(stack, lambda: ctx.recovered_at)
                )
                watches.append(readiness)
                await fault.inject(ctx)
                settle_from = max(ctx.recovered_at or time.time(), ctx.last_change_at or 0.0)
                plans = asyncio.ensure_future(
                    measure.plans_current_after(
                        engine, self.cluster.redis_url, run_name, settle_from, settle_from + bound
                    )
                )
                watches.append(plans)
                await asyncio.to_thread(
                    simulator.wait, timeout=duration + options.drain_timeout_s + 180
                )
                result.readiness = await readiness
                result.plans_current_after_s = await plans
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {exc}"
        finally:
            for watch in watches:
                watch.cancel()
            if simulator.poll() is None:
                simulator.kill()
            result.simulator_exit = simulator.wait()
            await changer.close()
        self.devices_so_far += options.devices
        result.actions, result.notes = ctx.actions, ctx.notes
        result.injected_at = ctx.injected_at
        result.traffic = measure.traffic(measure.read_timeline(timeline), ctx.recovered_at)
        result.p99_ms = measure.device_p99_ms(log.with_suffix(".json"))
        try:
            if result.error is None:
                recovered = ctx.recovered_at or time.time()
                settle_from = max(recovered, ctx.last_change_at or 0.0)
                await self._measure(result, engine, recovered, settle_from, acked, before_change)
                if ctx.last_change_at is not None and result.plans_changed == 0:
                    result.notes.append(
                        "the committed change altered no plan: stale proves nothing"
                    )
                result.stale_bound_why = bound_why
        finally:
            await engine.dispose()
        await self._heal_after(result)
        return result

    async def _measure(
        self,
        result: FaultResult,
        engine: AsyncEngine,
        recovered: float,
        settle_from: float,
        acked: Path,
        before_change: dict[uuid.UUID, str],
    ) -> None:
        """Wedged first (before anything is restarted), stale at the bound, then the data."""
        stack = self._stack()
        wedged = asyncio.ensure_future(measure.wedged(stack, self.cluster.redis_url, recovered))
        try:
            wait = settle_from + result.stale_bound_s - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            at_bound = time.time()
            result.staleness = await measure.staleness(
                engine, self.cluster.redis_url, result.run_name
            )
            if result.staleness.stale:
                result.converged_after_s = await measure.plans_current_after(
                    engine,
                    self.cluster.redis_url,
                    result.run_name,
                    at_bound,
                    at_bound + self.options.converge_watch_s,
                )
            result.ledger = await measure.ledger(engine, result.run_name, read_acked(acked))
            after = await measure.stored_etags(engine, result.run_name)
            result.plans_before_change = len(before_change)
            result.plans_changed = sum(
                1 for device, etag in before_change.items() if after.get(device) != etag
            )
        except Exception as exc:
            result.error = f"measuring failed: {type(exc).__name__}: {exc}"
        finally:
            result.wedged = await wedged

    async def _heal_after(self, result: FaultResult) -> None:
        """Start what the fault left down, so the next fault starts from a whole stack."""
        try:
            healed = await asyncio.to_thread(self.heal)
        except RuntimeError as exc:
            result.notes.append(f"could not bring the stack back: {exc}")
            return
        if healed:
            result.notes.append(f"down after the fault, started again: {', '.join(healed)}")

    def _start_simulator(
        self, run_name: str, duration: float, seed: int, acked: Path, timeline: Path, log: Path
    ) -> subprocess.Popen[bytes]:
        stack, o = self._stack(), self.options
        argv = [sys.executable, "-m", "simulator", "--name", run_name]
        argv += ["--devices", str(o.devices), "--devices-per-store", str(o.devices_per_store)]
        argv += ["--duration", str(duration), "--seed", str(seed)]
        argv += ["--api-url", stack.api_url, "--edge-url", stack.edge_url]
        argv += ["--admin-email", ADMIN_EMAIL]
        argv += ["--heartbeat-interval", str(o.heartbeat_interval_s), "--ramp", str(o.ramp_s)]
        argv += ["--plan-poll", str(o.plan_poll_s), "--upload-interval", str(o.upload_interval_s)]
        argv += ["--speed", str(o.speed), "--concurrency", str(o.concurrency)]
        argv += ["--backoff-max", str(o.backoff_max_s), "--drain-timeout", str(o.drain_timeout_s)]
        argv += ["--acked-log", str(acked), "--timeline", str(timeline)]
        argv += ["--result-json", str(log.with_suffix(".json")), "--progress-interval", "5"]
        env = {**stack.env, "SIGNAGE_SIM_ADMIN_PASSWORD": stack.admin_password}
        with log.open("wb") as output:
            return subprocess.Popen(  # noqa: S603 - fixed arguments
                argv,
                env=env,
                cwd=log.parent,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )


def _has_line(path: Path, mark: str) -> bool:
    if not path.exists():
        return False
    return any(line.startswith(mark) for line in path.read_text(errors="replace").splitlines())


async def _wait_for_line(
    path: Path, mark: str, process: subprocess.Popen[bytes], timeout_s: float
) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(_has_line, path, mark):
            return True
        if process.poll() is not None:
            return False
        await asyncio.sleep(0.2)
    return False


def machine() -> str:
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}"
