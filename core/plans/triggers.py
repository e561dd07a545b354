"""The seam between "a plan-input change committed" (core) and the planning workers (Dramatiq).

Why a seam: `core` must not import Dramatiq. The process entrypoint installs a sink (the
API's, `queueing.plan_changes.install_plan_change_sink`, sends `apply_plan_change` to the
planning queue by name; `workers.plans.install_plan_trigger()` does the same through the
declared actor), and `core.plans.changes.notify_plan_inputs_changed` hands each recorded
change to it after COMMIT.

The hand-off is only the fast path. The change itself is a row of the plan-change outbox
(`core.plans.outbox`), written in the change's own transaction: when there is no sink (a
one-off script), or the sink fails (Redis unreachable at that moment), or the message is lost
later (Redis restarting empty), the relay hands the change on again, and the periodic
reconciliation (`core.plans.reconcile`) catches whatever else slipped through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

PlanChangeSink = Callable[[int], Awaitable[None]]

_sink: PlanChangeSink | None = None


def install_sink(sink: PlanChangeSink | None) -> PlanChangeSink | None:
    """Set the process's sink; returns the previous one (tests restore it)."""
    global _sink
    previous, _sink = _sink, sink
    return previous


def current_sink() -> PlanChangeSink | None:
    return _sink


async def hand_off(change_id: int) -> None:
    """Hand a committed change (an outbox id) to the planners. Call only after COMMIT.

    Never raises for an unreachable queue: the change is durable already, and the outbox
    relay hands it on once the queue is back."""
    if _sink is None:
        log.info("plan change left to the outbox relay: no trigger here", change_id=change_id)
        return
    try:
        await _sink(change_id)
    except Exception as exc:  # durable in the outbox: the relay hands it on again
        log.warning(
            "plan change left to the outbox relay: hand-off failed",
            change_id=change_id,
            error=type(exc).__name__,
        )
