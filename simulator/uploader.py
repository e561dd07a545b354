"""A player's proof-of-play buffer: events are kept until a 2xx says they are stored.

The edge answers 2xx only after COMMIT, so the buffer is trimmed only then, by exactly the
events of the batch that was acknowledged. Anything else (no answer, a 5xx, a 429) keeps the
batch, and the same batch, with the same event ids, is sent again after an exponential,
jittered backoff; a batch that committed but whose answer was lost comes back as duplicates,
so nothing is counted twice. Playback keeps appending meanwhile: an outage grows the buffer,
it never drops an event.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import orjson

from simulator.config import SimulationConfig
from simulator.device import DeviceSession, PlayerFailed, RetryLater, retry_after
from simulator.records import AckedLog
from simulator.stats import FleetStats
from simulator.transport import Unreachable

EVENTS_PATH = "/v1/device/events"
MAX_BATCH = 1000  # the edge's limit per request
DRAIN_SPREAD_S = 5.0


class EventUploader:
    def __init__(
        self,
        session: DeviceSession,
        stats: FleetStats,
        config: SimulationConfig,
        rng: random.Random,
        acked_log: AckedLog | None = None,
    ) -> None:
        self._session = session
        self._stats = stats
        self._config = config
        self._rng = rng
        self._acked_log = acked_log
        self._batch_max = max(1, min(config.upload_batch_max, MAX_BATCH))
        self.buffer: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._draining = False
        self._drain_delay = 0.0

    def add(self, event: dict[str, Any]) -> None:
        self.buffer.append(event)
        self._stats.ledger.generated += 1
        if len(self.buffer) >= self._batch_max:
            self._wake.set()

    def drain(self) -> None:
        """Upload everything left, then stop (the caller bounds how long that may take).

        The final uploads are spread over a few seconds: a whole fleet flushing in the same
        instant is a load spike no real fleet produces."""
        self._draining = True
        self._drain_delay = self._rng.uniform(
            0, min(DRAIN_SPREAD_S, self._config.upload_interval_s)
        )
        self._wake.set()

    async def _wait(self, seconds: float) -> None:
        """Sleep up to `seconds`, waking early for a full buffer or the drain."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._wake.wait()
        self._wake.clear()

    def _next_interval(self) -> float:
        spread = self._config.upload_interval_s * 0.1
        return self._config.upload_interval_s + self._rng.uniform(-spread, spread)

    async def run(self) -> None:
        # Players' first uploads are spread over one interval, like a fleet that booted apart.
        due = time.monotonic() + self._rng.uniform(0, self._config.upload_interval_s)
        backoff = self._config.backoff_initial_s
        while True:
            if self._draining and not self.buffer:
                return
            if self._draining and self._drain_delay > 0:
                pause, self._drain_delay = self._drain_delay, 0.0
                await asyncio.sleep(pause)
            ready = self._draining or len(self.buffer) >= self._batch_max
            if not ready and time.monotonic() < due:
                await self._wait(due - time.monotonic())
                continue
            if not self.buffer:
                due = time.monotonic() + self._next_interval()
                continue
            delay = await self._upload_once()
            if delay is None:
                backoff = self._config.backoff_initial_s
                due = time.monotonic() + self._next_interval()
                continue
            self._stats.ledger.upload_retries += 1
            wait = max(delay, backoff * self._rng.uniform(0.5, 1.0))
            backoff = min(backoff * 2, self._config.backoff_max_s)
            await asyncio.sleep(wait)

    async def _upload_once(self) -> float | None:
        """One attempt with the oldest events; None when acknowledged, else a retry delay."""
        batch = self.buffer[: self._batch_max]
        try:
            response = await self._session.call(
                "events",
                "POST",
                EVENTS_PATH,
                content=orjson.dumps({"events": batch}),
                headers={"Content-Type": "application/json"},
            )
        except (Unreachable, RetryLater) as exc:
            return getattr(exc, "retry_after_s", None) or 0.0
        if 200 <= response.status_code < 300:
            self._acknowledge(batch, orjson.loads(response.content))
            del self.buffer[: len(batch)]
            return None
        if response.status_code == 429 or response.status_code >= 500:
            return retry_after(response) or 0.0
        raise PlayerFailed(f"events refused: HTTP {response.status_code} {response.text[:200]}")

    def _acknowledge(self, batch: list[dict[str, Any]], answer: dict[str, Any]) -> None:
        ledger = self._stats.ledger
        rejected = {int(error["index"]) for error in answer.get("errors", [])}
        accepted, duplicates = int(answer["accepted"]), int(answer["duplicates"])
        ledger.accepted += accepted
        ledger.duplicates += duplicates
        ledger.rejected += len(rejected)
        ledger.batches_acked += 1
        if accepted + duplicates + len(rejected) != len(batch):
            self._stats.anomaly(
                f"events answer does not add up: {accepted}+{duplicates}+{len(rejected)} "
                f"!= {len(batch)} sent"
            )
        for error in answer.get("errors", [])[:3]:
            self._stats.anomaly(f"event rejected: {error.get('code')}: {error.get('message')}")
        if self._acked_log is not None:
            self._acked_log.record(
                str(event["event_id"]) for index, event in enumerate(batch) if index not in rejected
            )
        for index, event in enumerate(batch):
            if index in rejected:
                continue
            if event["type"] == "PLAY_START":
                ledger.acked_starts += 1
            else:
                ledger.acked_ends += 1
                ledger.acked_duration_ms += int(event["duration_ms"])
                if event.get("result") == "COMPLETED":
                    ledger.acked_completed += 1
