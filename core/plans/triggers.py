"""The seam between "plan inputs changed" (core) and the planning workers (Dramatiq).

Why a seam: `core` must not import Dramatiq, yet every programming and fleet change must end
up as a durable task for the planning workers (a Redis pub/sub message is lost when nobody
listens; a Dramatiq message waits in its queue). So the process entrypoint installs a sink
(`workers.planning.install_plan_trigger()` enqueues the `plan_inputs_changed` actor), and
`core.schedules.changes.notify_plan_inputs_changed` calls `plan_inputs_changed` after COMMIT.

A process without a sink (a one-off script) only logs: the periodic horizon roll and
on-demand generation at the edge still bound how stale a plan can get.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog

log = structlog.get_logger(__name__)

PlanChangeSink = Callable[[str, list[str]], Awaitable[None]]

_sink: PlanChangeSink | None = None


def install_sink(sink: PlanChangeSink | None) -> PlanChangeSink | None:
    """Set the process's sink; returns the previous one (tests restore it)."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def current_sink() -> PlanChangeSink | None:
    return _sink


async def plan_inputs_changed(kind: str, ids: Sequence[str]) -> None:
    """Hand a committed change to the planners. Call only after COMMIT."""
    if not ids:
        return
    if _sink is None:
        log.warning("plan inputs changed but no planning trigger is installed", kind=kind)
        return
    await _sink(kind, sorted(set(ids)))
