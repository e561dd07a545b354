"""What the simulated fleet did: per-endpoint requests, outcomes and latencies, plus the
proof-of-play ledger the final check compares with the server's report.

One process, one event loop: plain counters need no locks. Latencies are kept as raw samples
(a float per request; a 5,000-device, 10-minute run makes a few hundred thousand), so the
percentiles are exact rather than estimated from buckets.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field

# Outcome keys for failures below HTTP: the request never got an answer.
CONNECT_ERROR = "connect_error"
TIMEOUT = "timeout"
TRANSPORT_ERROR = "transport_error"
TRANSPORT_OUTCOMES = (CONNECT_ERROR, TIMEOUT, TRANSPORT_ERROR)


def is_success(outcome: int | str) -> bool:
    """2xx, and 304 (the plan is unchanged), are what a healthy backend answers."""
    return isinstance(outcome, int) and (200 <= outcome < 300 or outcome == 304)


def percentile(sorted_samples: array[float] | list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted samples (0.0 when there are none)."""
    if not sorted_samples:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_samples)))
    return float(sorted_samples[rank - 1])


@dataclass
class EndpointStats:
    requests: int = 0
    outcomes: Counter[int | str] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))

    def record(self, outcome: int | str, latency_s: float) -> None:
        self.requests += 1
        self.outcomes[outcome] += 1
        self.latencies.append(latency_s)

    @property
    def errors(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if not is_success(outcome))

    @property
    def http_errors(self) -> int:
        return sum(
            n for outcome, n in self.outcomes.items() if isinstance(outcome, int) and outcome >= 400
        )

    def error_breakdown(self) -> dict[str, int]:
        return {
            str(outcome): n
            for outcome, n in sorted(self.outcomes.items(), key=lambda kv: str(kv[0]))
            if not is_success(outcome)
        }

    def latency_percentiles(self) -> tuple[float, float, float]:
        ordered = sorted(self.latencies)
        return percentile(ordered, 0.50), percentile(ordered, 0.95), percentile(ordered, 0.99)


@dataclass
class Ledger:
    """Proof-of-play as the players saw it.

    `generated` counts events created by playback; `acked_*` counts each event once, when the
    2xx that covers it arrives (after that the player drops it). The server's report must
    equal the acked figures exactly; accepted + duplicates must cover every acked event
    (a duplicate is an event whose earlier upload committed but whose answer was lost).
    """

    generated: int = 0
    acked_starts: int = 0
    acked_ends: int = 0
    acked_completed: int = 0
    acked_duration_ms: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    batches_acked: int = 0
    upload_retries: int = 0

    @property
    def acked(self) -> int:
        return self.acked_starts + self.acked_ends


@dataclass
class FleetStats:
    endpoints: dict[str, EndpointStats] = field(default_factory=dict)
    ledger: Ledger = field(default_factory=Ledger)
    players_paired: int = 0
    players_failed: int = 0
    token_refreshes: int = 0
    plan_downloads: int = 0
    failures: list[str] = field(default_factory=list)  # first few fatal player errors
    anomalies: int = 0  # answers that contradict the contract (each one fails the run)
    anomaly_samples: list[str] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)  # the first failed requests
    # Outcomes per wall-clock second (unix time): lines errors up with outside events.
    timeline: dict[int, Counter[int | str]] = field(default_factory=dict)

    def endpoint(self, name: str) -> EndpointStats:
        stats = self.endpoints.get(name)
        if stats is None:
            stats = self.endpoints[name] = EndpointStats()
        return stats

    def record(self, name: str, outcome: int | str, latency_s: float) -> None:
        self.endpoint(name).record(outcome, latency_s)
        second = int(time.time())
        outcomes = self.timeline.get(second)
        if outcomes is None:
            outcomes = self.timeline[second] = Counter()
        outcomes[outcome] += 1

    def fail(self, message: str) -> None:
        self.players_failed += 1
        if len(self.failures) < 20:
            self.failures.append(message)

    def sample_error(self, message: str) -> None:
        if len(self.error_samples) < 10:
            self.error_samples.append(message)

    def anomaly(self, message: str) -> None:
        self.anomalies += 1
        if len(self.anomaly_samples) < 20:
            self.anomaly_samples.append(message)

    @property
    def requests(self) -> int:
        return sum(s.requests for s in self.endpoints.values())

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.endpoints.values())

    @property
    def http_errors(self) -> int:
        return sum(s.http_errors for s in self.endpoints.values())

    @property
    def transport_errors(self) -> int:
        return sum(
            s.outcomes[outcome] for s in self.endpoints.values() for outcome in TRANSPORT_OUTCOMES
        )
