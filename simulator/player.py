"""One simulated player: heartbeats, plan polling, playback and proof-of-play, as firmware does.

Three loops per player, all cooperating on one event loop:
- control: a heartbeat every `heartbeat_interval_s` (as the server last said) with jitter,
  and a plan download whenever the heartbeat says `plan_changed` or the periodic poll is due
  (always with If-None-Match, so an unchanged plan costs a 304);
- playback: walks the current window's sequence, one item at a time, `speed` times faster
  than real time, emitting PLAY_START and PLAY_END events;
- upload: the event buffer (see `simulator.uploader`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson

from simulator.config import SimulationConfig
from simulator.device import DeviceSession, PlayerFailed, RetryLater
from simulator.playback import Cursor, Plan, PlanItem
from simulator.records import AckedLog
from simulator.stats import FleetStats
from simulator.transport import Unreachable
from simulator.uploader import EventUploader

IDLE_RECHECK_S = 5.0


def device_time() -> str:
    """The player's clock (this machine's), ISO 8601 in UTC with milliseconds."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def strip_etag(raw: str | None) -> str | None:
    if raw is None:
        return None
    tag = raw.strip()
    if tag[:2] in ("W/", "w/"):
        tag = tag[2:]
    return tag.strip('"') or None


class Player:
    def __init__(
        self,
        index: int,
        session: DeviceSession,
        stats: FleetStats,
        config: SimulationConfig,
        rng: random.Random,
        stopping: asyncio.Event,
        acked_log: AckedLog | None = None,
    ) -> None:
        self.index = index
        self.session = session
        self._stats = stats
        self._config = config
        self._rng = rng
        self.uploader = EventUploader(session, stats, config, rng, acked_log)
        self.plan: Plan | None = None
        self._plan_wanted = asyncio.Event()
        self._have_plan = asyncio.Event()
        self.stopping = stopping  # shared by the whole fleet: set when the run is over
        self._started = time.monotonic()
        self._plays = 0
        self._now_playing: dict[str, Any] | None = None
        self._heartbeat_interval = float(config.heartbeat_interval_s)
        self._sent_device_info = False
        self.upload_task: asyncio.Task[None] | None = None

    # --- control: heartbeat and plan ---------------------------------------------------

    def _heartbeat_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "disk_used_bytes": 2_000_000_000 + self.index * 1_000,
            "counters": {
                "uptime_s": int(time.monotonic() - self._started),
                "crashes_1h": 0,
                "download_failures": 0,
                "downloads_pending": 0,
                "playback_errors": 0,
                "plays": self._plays,
            },
            "now_playing": self._now_playing,
            "plan_etag": self.plan.etag if self.plan else None,
        }
        if not self._sent_device_info:
            body["device_info"] = self.session.device_info
        return body

    async def heartbeat(self) -> None:
        response = await self.session.call(
            "heartbeat", "POST", "/v1/device/heartbeat", json_body=self._heartbeat_body()
        )
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater("heartbeat", response.status_code)
        if response.status_code != 200:
            raise PlayerFailed(f"heartbeat refused: HTTP {response.status_code}")
        answer = orjson.loads(response.content)
        self._sent_device_info = True
        self._heartbeat_interval = float(answer.get("heartbeat_interval_s") or 60)
        current = answer.get("plan_etag")
        if answer.get("plan_changed") and (self.plan is None or current != self.plan.etag):
            self._plan_wanted.set()

    async def fetch_plan(self) -> None:
        headers = {"If-None-Match": f'"{self.plan.etag}"'} if self.plan else {}
        response = await self.session.call("plan", "GET", "/v1/device/plan", headers=headers)
        if response.status_code == 304:
            return
        if response.status_code == 429 or response.status_code >= 500:
            raise RetryLater("plan", response.status_code)
        if response.status_code != 200:
            raise PlayerFailed(f"plan refused: HTTP {response.status_code}")
        etag = strip_etag(response.headers.get("etag")) or ""
        self.plan = Plan(orjson.loads(response.content), etag)
        self._stats.plan_downloads += 1
        self._have_plan.set()

    def _jittered(self, seconds: float) -> float:
        jitter = self._config.heartbeat_jitter
        return seconds * self._rng.uniform(1.0 - jitter, 1.0 + jitter)

    async def control_loop(self) -> None:
        backoff = self._config.backoff_initial_s
        next_heartbeat = time.monotonic()
        next_poll = time.monotonic()  # first download at start-up
        while not self.stopping.is_set():
            try:
                now = time.monotonic()
                if self._plan_wanted.is_set() or now >= next_poll:
                    self._plan_wanted.clear()
                    await self.fetch_plan()
                    next_poll = time.monotonic() + self._config.plan_poll_s
                if time.monotonic() >= next_heartbeat:
                    await self.heartbeat()
                    next_heartbeat = time.monotonic() + self._jittered(self._heartbeat_interval)
                backoff = self._config.backoff_initial_s
                if self._plan_wanted.is_set():
                    continue
                wait = min(next_heartbeat, next_poll) - time.monotonic()
            except (Unreachable, RetryLater):
                # Try again soon, but no sooner than the backoff; whatever was due stays due.
                wait = backoff * self._rng.uniform(0.5, 1.0)
                backoff = min(backoff * 2, self._config.backoff_max_s)
            if wait > 0:
                await self._sleep_unless_stopped(wait)

    async def _sleep_unless_stopped(self, seconds: float) -> bool:
        """Sleep; True when woken by the stop instead of the timer."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):  # no extra task, unlike wait_for
                await self.stopping.wait()
        return self.stopping.is_set()

    # --- playback ------------------------------------------------------------------------

    def _event(self, kind: str, item: PlanItem, **extra: Any) -> dict[str, Any]:
        event: dict[str, Any] = {
            "event_id": str(uuid.uuid4()),
            "type": kind,
            "device_time": device_time(),
            "playlist_id": item.playlist_id,
            "content_id": item.content_id,
            "content_version": item.version,
        }
        if item.campaign_id:
            event["campaign_id"] = item.campaign_id
        if item.schedule_id:
            event["schedule_id"] = item.schedule_id
        event.update(extra)
        return event

    async def _play(self, item: PlanItem) -> None:
        self.uploader.add(self._event("PLAY_START", item))
        self._now_playing = {
            "content_id": item.content_id,
            "content_version": str(item.version),
            "playlist_id": item.playlist_id,
            "schedule_id": item.schedule_id,
            "campaign_id": item.campaign_id,
            "started_at": device_time(),
        }
        started = time.monotonic()
        interrupted = await self._sleep_unless_stopped(item.duration_ms / 1000 / self._config.speed)
        if interrupted:
            played = int((time.monotonic() - started) * self._config.speed * 1000)
            end = self._event(
                "PLAY_END", item, duration_ms=min(played, item.duration_ms), result="INTERRUPTED"
            )
        else:
            end = self._event("PLAY_END", item, duration_ms=item.duration_ms, result="COMPLETED")
        self.uploader.add(end)
        self._plays += 1
        self._now_playing = None

    async def playback_loop(self) -> None:
        cursor = Cursor()
        while not self.stopping.is_set():
            plan = self.plan
            if plan is None:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(IDLE_RECHECK_S):
                        await self._have_plan.wait()
                continue
            now = datetime.now(UTC)
            window = plan.window_at(now)
            if window is None:
                upcoming = plan.next_start_after(now)
                idle = (upcoming - now).total_seconds() if upcoming else IDLE_RECHECK_S
                await self._sleep_unless_stopped(min(max(idle, 0.05), IDLE_RECHECK_S))
                continue
            await self._play(cursor.next_item(plan, window))

    # --- the whole player ------------------------------------------------------------------

    async def run(self, start_delay_s: float) -> None:
        """Boot after `start_delay_s`, run until `stopping` is set, then leave the buffer
        to the uploader's drain (the caller waits for `self.upload_task`)."""
        if await self._sleep_unless_stopped(start_delay_s):
            self.uploader.drain()
            return
        self._started = time.monotonic()
        self.upload_task = asyncio.create_task(self.uploader.run())
        loops = [
            asyncio.create_task(self.control_loop()),
            asyncio.create_task(self.playback_loop()),
        ]
        try:
            await asyncio.gather(*loops)
        finally:
            for task in loops:
                task.cancel()
            self.uploader.drain()
