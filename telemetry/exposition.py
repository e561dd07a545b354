"""Rendering this process kind's metrics in the Prometheus text format.

Several processes of one kind (uvicorn `--workers N`, Dramatiq's worker processes) each
count only what they served. prometheus-client's multiprocess mode makes them one figure:
the launcher (`ops.cli.processes`) gives every process of a kind the same empty directory in
PROMETHEUS_MULTIPROC_DIR before Python starts, each process writes its values to files there,
and whichever of them is scraped sums the files (`MultiProcessCollector`). Without that
variable (a test running an app in-process) the process's own registry is exposed.

Figures read at scrape time rather than counted (queue depths, the fleet) are collectors
passed in by the process that owns them, so they are reported once, not once per process.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROCESS_ENV) or None


class _Delegate(Collector):
    """Every metric of another registry, so one exposition can add its own collectors."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        return self._registry.collect()


def _own_figures() -> CollectorRegistry:
    directory = multiprocess_dir()
    if directory is None:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    MultiProcessCollector(registry, path=directory)
    return registry


class Exposition:
    """What one scrape answers: this kind's figures plus the collectors given here."""

    def __init__(self, extra: Sequence[Collector] = ()) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_Delegate(_own_figures()))
        for collector in extra:
            self._registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self._registry)

    def metrics(self) -> Iterator[Metric]:
        yield from self._registry.collect()


def forget_this_process() -> None:
    """At a clean exit: drop this process's live gauges (multiprocess 'live*' modes)."""
    if multiprocess_dir() is not None:
        mark_process_dead(os.getpid())
