"""Playout plans: loading inputs set-based, computing once per distinct inputs, storing
them in `playout_plans`, caching each device's ETag in Redis, and finding which devices a
change touches. The pure rules live in `core.scheduling`; this package is the database side.
docs/plans.md describes delivery, workers and the console queries.
"""

from core.db.enums import PlanChangeKind
from core.plans.affected import (
    UnknownChangeKind,
    affected_devices,
    devices_needing_roll,
)
from core.plans.computer import ComputedPlan, PlanComputer, default_computer
from core.plans.service import (
    BATCH_SIZE,
    RegenerateReport,
    StoredPlan,
    cached_etag,
    get_plan,
    regenerate,
)

__all__ = [
    "BATCH_SIZE",
    "ComputedPlan",
    "PlanChangeKind",
    "PlanComputer",
    "RegenerateReport",
    "StoredPlan",
    "UnknownChangeKind",
    "affected_devices",
    "cached_etag",
    "default_computer",
    "devices_needing_roll",
    "get_plan",
    "regenerate",
]
