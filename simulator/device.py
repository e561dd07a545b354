"""One simulated player's identity on the device edge: pairing, tokens and authenticated calls.

Tokens are refreshed before they expire (at a random point of `refresh_window` of their
lifetime), and once more on a 401 `token_expired`, which covers clock skew. A refresh spends
the refresh token, so it runs under a lock: the heartbeat, plan and upload loops of one
player never spend the same token twice (the server would treat that as theft and revoke the
device).
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Any

import httpx
import orjson

from simulator.config import SimulationConfig
from simulator.stats import FleetStats
from simulator.transport import FleetHttp, Unreachable, error_code, timed_request

CLAIM_ATTEMPTS = 8


class PlayerFailed(Exception):
    """The player cannot go on: its claim or its tokens were refused for good."""


class RetryLater(Exception):
    """The server answered but could not serve the request now (5xx, 429); try again."""

    def __init__(self, endpoint: str, status: int, retry_after_s: float | None = None) -> None:
        super().__init__(f"{endpoint}: HTTP {status}")
        self.status = status
        self.retry_after_s = retry_after_s


def retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


@dataclass
class Tokens:
    device_id: str
    access: str
    refresh: str
    refresh_due: float  # time.monotonic() after which the access token is refreshed


class DeviceSession:
    def __init__(
        self,
        client: FleetHttp,
        stats: FleetStats,
        config: SimulationConfig,
        device_info: dict[str, Any],
        rng: random.Random,
    ) -> None:
        self._client = client
        self._rng = rng
        self._stats = stats
        self._config = config
        self._base = config.edge_url.rstrip("/")
        self.device_info = device_info
        self.tokens: Tokens | None = None
        self._refresh_lock = asyncio.Lock()

    @property
    def device_id(self) -> str:
        if self.tokens is None:
            raise PlayerFailed("not paired")
        return self.tokens.device_id

    def _store(self, body: dict[str, Any]) -> None:
        lifetime = float(body["expires_in"])
        self.tokens = Tokens(
            device_id=str(body["device_id"]),
            access=str(body["device_token"]),
            refresh=str(body["refresh_token"]),
            refresh_due=time.monotonic()
            + lifetime * self._rng.uniform(*self._config.refresh_window),
        )

    async def claim(self, claim_code: str) -> None:
        """Installer flow: exchange the typed code for tokens, retrying what is safe to retry."""
        body = {"claim_code": claim_code, "device_info": self.device_info}
        delay = self._config.backoff_initial_s
        for _ in range(CLAIM_ATTEMPTS):
            try:
                response = await timed_request(
                    self._client,
                    self._stats,
                    "pairing/claim",
                    "POST",
                    f"{self._base}/v1/device/pairing/claim",
                    json_body=body,
                )
            except Unreachable:
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._config.backoff_max_s)
                continue
            if response.status_code == 200:
                self._store(orjson.loads(response.content))
                return
            if response.status_code == 429 or response.status_code >= 500:
                await asyncio.sleep(retry_after(response) or delay)
                delay = min(delay * 2, self._config.backoff_max_s)
                continue
            raise PlayerFailed(f"claim refused: HTTP {response.status_code} {error_code(response)}")
        raise PlayerFailed(f"claim gave up after {CLAIM_ATTEMPTS} attempts")

    async def refresh(self, *, stale_access: str | None = None) -> None:
        """Rotate the tokens. `stale_access`: refresh only if that token is still current
        (another loop of this player may have refreshed while we waited for the lock)."""
        async with self._refresh_lock:
            tokens = self.tokens
            if tokens is None:
                raise PlayerFailed("not paired")
            if stale_access is not None and tokens.access != stale_access:
                return
            if stale_access is None and time.monotonic() < tokens.refresh_due:
                return
            response = await timed_request(
                self._client,
                self._stats,
                "token/refresh",
                "POST",
                f"{self._base}/v1/device/token/refresh",
                json_body={"refresh_token": tokens.refresh},
            )
            if response.status_code == 200:
                self._store(orjson.loads(response.content))
                self._stats.token_refreshes += 1
                return
            if response.status_code == 429 or response.status_code >= 500:
                raise RetryLater("token/refresh", response.status_code, retry_after(response))
            raise PlayerFailed(
                f"refresh refused: HTTP {response.status_code} {error_code(response)}"
            )

    async def call(
        self,
        endpoint: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """An authenticated call; refreshes first when due, and once on `token_expired`."""
        if self.tokens is None:
            raise PlayerFailed("not paired")
        if time.monotonic() >= self.tokens.refresh_due:
            await self.refresh()
        for attempt in range(2):
            access = self.tokens.access
            response = await timed_request(
                self._client,
                self._stats,
                endpoint,
                method,
                f"{self._base}{path}",
                json_body=json_body,
                content=content,
                headers={**(headers or {}), "Authorization": f"Bearer {access}"},
            )
            if response.status_code != 401:
                return response
            code = error_code(response)
            if code == "token_expired" and attempt == 0:
                await self.refresh(stale_access=access)
                continue
            raise PlayerFailed(f"{endpoint}: HTTP 401 {code}")
        raise AssertionError("unreachable")  # pragma: no cover
