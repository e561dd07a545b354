"""The figures the domain reports to operators, as Prometheus metrics (`docs/metrics.md`).

Declared once here and imported where the figure happens. Labels take bounded sets of
values only (an enum, an outcome): never a device, store or campaign id.

prometheus-client decides at import time whether values live in this process's memory or
in files shared by every process of a kind (PROMETHEUS_MULTIPROC_DIR, `telemetry.exposition`);
nothing here needs to know which.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HEARTBEAT_BATCH_SIZE = Histogram(
    "signage_heartbeat_batch_size",
    "Heartbeats written per coalesced batch.",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500),
)

POP_EVENTS = Counter(
    "signage_pop_events",
    "Proof-of-play events received, by outcome; rejected ones by reason.",
    ["outcome", "reason"],
)

PLAN_PROPAGATION_SECONDS = Histogram(
    "signage_plan_propagation_seconds",
    "From the commit of a plan change to every affected device's new plan and ETag published.",
    ["kind"],
    buckets=(0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
)
