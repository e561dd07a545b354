"""The scheduling engine: pure functions from schedules to resolved playout plans.

No database, no Redis, no clock reads: the loader builds `PlanInputs` (with a horizon from
`horizon_for(clock.now())`), and everything here is deterministic in those inputs.
docs/scheduling.md states the resolution rule in full.
"""

from core.scheduling.explain import Explanation, Outcome, Verdict, explain
from core.scheduling.horizon import Horizon, horizon_for, needs_roll
from core.scheduling.inputs import (
    ENGINE_VERSION,
    DeviceContext,
    PlanInputs,
    PlanItem,
    PlaylistInput,
    ScheduleInput,
)
from core.scheduling.plan import (
    PLAN_VERSION,
    build_plan,
    canonical_json,
    etag_for,
    etag_for_bytes,
)
from core.scheduling.resolution import Segment, resolve
from core.scheduling.rules import DateRange, Daypart, FrequencyCap, ScheduleRules
from core.scheduling.validation import parse_rules
from core.timezones import validate_timezone

__all__ = [
    "ENGINE_VERSION",
    "PLAN_VERSION",
    "DateRange",
    "Daypart",
    "DeviceContext",
    "Explanation",
    "FrequencyCap",
    "Horizon",
    "Outcome",
    "PlanInputs",
    "PlanItem",
    "PlaylistInput",
    "ScheduleInput",
    "ScheduleRules",
    "Segment",
    "Verdict",
    "build_plan",
    "canonical_json",
    "etag_for",
    "etag_for_bytes",
    "explain",
    "horizon_for",
    "needs_roll",
    "parse_rules",
    "resolve",
    "validate_timezone",
]
