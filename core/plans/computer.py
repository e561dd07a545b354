"""One engine computation per distinct set of inputs.

The plan is a pure function of `inputs_hash`, so a computed plan can be reused for every
device (and every later batch in this process) whose inputs hash the same. A group-wide
change for 100,000 devices, split into 100 batches, therefore runs the engine once per
process rather than once per device or per batch. The cache is bounded (LRU) and holds
only what the hash fully determines, so it can never serve a stale plan.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from core.scheduling import PlanInputs, build_plan, canonical_json, etag_for

DEFAULT_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class ComputedPlan:
    inputs_hash: str
    etag: str
    plan: dict[str, Any]
    # The canonical JSON: the response body, and what the ETag is the hash of.
    body: bytes
    valid_from: datetime
    valid_to: datetime

    @classmethod
    def from_stored(
        cls,
        *,
        inputs_hash: str,
        etag: str,
        plan: dict[str, Any],
        valid_from: datetime,
        valid_to: datetime,
    ) -> ComputedPlan:
        return cls(inputs_hash, etag, plan, canonical_json(plan), valid_from, valid_to)

    @property
    def body_text(self) -> str:
        return self.body.decode()


class PlanComputer:
    """Computes plans through the engine, memoised by inputs hash. The lock only guards the
    cache (an API process and a worker's event-loop thread may share the default one); two
    threads racing on one new hash may both compute it, which is harmless."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_SIZE) -> None:
        self._cache: OrderedDict[str, ComputedPlan] = OrderedDict()
        self._max = max_entries
        self._lock = threading.Lock()
        # How many times the engine actually ran (tests and benchmarks read it).
        self.computations = 0

    def compute(self, inputs: PlanInputs, inputs_hash: str | None = None) -> ComputedPlan:
        key = inputs_hash or inputs.inputs_hash()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        plan = build_plan(inputs)
        computed = ComputedPlan(
            inputs_hash=key,
            etag=etag_for(plan),
            plan=plan,
            body=canonical_json(plan),
            valid_from=inputs.horizon.start,
            valid_to=inputs.horizon.end,
        )
        with self._lock:
            self.computations += 1
            self._cache[key] = computed
            if len(self._cache) > self._max:
                self._cache.popitem(last=False)
        return computed


def decode_plan(value: object) -> dict[str, Any]:
    """JSONB comes back as a dict (SQLAlchemy's codec) or, via ::text, as a string."""
    if isinstance(value, dict):
        return value
    if isinstance(value, str | bytes):
        decoded = orjson.loads(value)
        if isinstance(decoded, dict):
            return decoded
    raise TypeError("stored plan_json is not a JSON object")


_default = PlanComputer()


def default_computer() -> PlanComputer:
    """The process-wide computer used when a caller does not bring its own."""
    return _default
