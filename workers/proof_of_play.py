"""Proof-of-play partition maintenance: create monthly partitions ahead, drop expired ones.

Idempotent (missing partitions are created, expired ones dropped, nothing else), and
serialised in PostgreSQL by an advisory lock, so redelivery or overlapping runs are safe.
"""

from __future__ import annotations

import dramatiq
import structlog

import workers.broker  # noqa: F401 - the broker must be set before actors are declared
from core.proof_of_play.partitions import run_partition_maintenance
from workers.runtime import services

log = structlog.get_logger(__name__)

MAINTENANCE_EVERY_S = 6 * 3600  # months are long: a few runs a day leave ample margin


@dramatiq.actor(queue_name="maintenance", max_retries=5, time_limit=15 * 60_000)
async def maintain_pop_partitions() -> None:
    report = await run_partition_maintenance(await services())
    if (
        report.created
        or report.dropped
        or report.moved_rows
        or report.deleted_default_rows
        or report.deleted_event_keys
        or report.pruned_grants
    ):
        log.info(
            "proof-of-play partitions maintained",
            created=report.created,
            dropped=report.dropped,
            moved_rows=report.moved_rows,
            deleted_default_rows=report.deleted_default_rows,
            deleted_event_keys=report.deleted_event_keys,
            pruned_grants=report.pruned_grants,
        )
