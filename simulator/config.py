"""The knobs of one simulation run, with the defaults `signage simulate` uses."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "signage-demo-admin"  # noqa: S105 - the documented dev-mode demo login


@dataclass(frozen=True)
class ContentSpec:
    """One image the run uploads; its duration decides how often plays happen."""

    name: str
    duration_ms: int


DEFAULT_CONTENT = (
    ContentSpec("clip-a", 15_000),
    ContentSpec("clip-b", 20_000),
    ContentSpec("clip-c", 30_000),
)


@dataclass(frozen=True)
class SimulationConfig:
    devices: int = 10
    # Players per store (the last store may have fewer): a real fleet is spread over stores.
    devices_per_store: int = 10
    duration_s: float = 60.0
    api_url: str = "http://127.0.0.1:8000"
    edge_url: str = "http://127.0.0.1:8001"
    admin_email: str = DEV_ADMIN_EMAIL
    admin_password: str = DEV_ADMIN_PASSWORD
    # Simultaneous HTTP connections of the whole fleet (one shared connection pool).
    concurrency: int = 100
    # Simultaneous claim exchanges while pairing (each one mints tokens on the server).
    pairing_concurrency: int = 32
    seed: int | None = None
    # Playback runs this many times faster than real time (device_time stays real time).
    speed: float = 1.0
    # Heartbeat interval set on the run's group (the server then tells every player).
    heartbeat_interval_s: int = 60
    # Relative jitter around every heartbeat interval: 0.1 is +-10%.
    heartbeat_jitter: float = 0.1
    # Players start spread evenly over this many seconds (a fleet already in steady state).
    ramp_s: float | None = None  # None: one heartbeat interval
    plan_poll_s: float = 300.0
    upload_interval_s: float = 60.0
    upload_batch_max: int = 500
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    # After the run: how long players may keep trying to upload what they still buffer.
    drain_timeout_s: float = 120.0
    request_timeout_s: float = 30.0
    progress_interval_s: float = 5.0
    # Each access token is refreshed at a random point between these shares of its lifetime
    # (spread, as in a real fleet whose tokens were issued at different times).
    refresh_window: tuple[float, float] = (0.5, 0.8)
    # Reuse the store/group called this (created if missing); None: a fresh name per run.
    name: str | None = None
    timezone: str = "UTC"
    quiet: bool = False
    # Append every acknowledged proof-of-play event id here (`simulator.records.AckedLog`).
    acked_log: str | None = None

    @property
    def effective_ramp_s(self) -> float:
        return float(self.heartbeat_interval_s) if self.ramp_s is None else self.ramp_s


def env_default(name: str, fallback: str) -> str:
    value = os.environ.get(name)
    return value if value else fallback
