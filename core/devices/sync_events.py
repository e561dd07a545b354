"""Device sync-state events on Redis pub/sub: the `device-sync` channel.

Whoever changes a device's sync state publishes one JSON message per change after COMMIT: the
edge for the changes a heartbeat batch made, the planning workers for the changes a plan
regeneration made (core.devices.sync_state). Every API process fans them out to the
`deviceSyncStateChanged` subscription and to the fleet summary's convergence counts.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis
import structlog

from core.db.enums import SyncState
from core.kernel.channels import DEVICE_SYNC
from core.redis_client import Keys, publish_all

CHANNEL_NAME = DEVICE_SYNC

log = structlog.get_logger(__name__)


def sync_channel(keys: Keys) -> str:
    return keys.channel(CHANNEL_NAME)


@dataclass(frozen=True)
class SyncStateEvent:
    device_id: uuid.UUID
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    sync_state: SyncState
    previous_sync_state: SyncState | None
    since: datetime
    desired_plan_etag: str | None
    reported_plan_etag: str | None

    def to_json(self) -> bytes:
        def text(value: uuid.UUID | None) -> str | None:
            return None if value is None else str(value)

        return orjson.dumps(
            {
                "device_id": str(self.device_id),
                "store_id": text(self.store_id),
                "group_id": text(self.group_id),
                "sync_state": self.sync_state.value,
                "previous_sync_state": (
                    None if self.previous_sync_state is None else self.previous_sync_state.value
                ),
                "since": self.since,
                "desired_plan_etag": self.desired_plan_etag,
                "reported_plan_etag": self.reported_plan_etag,
            }
        )

    @classmethod
    def from_payload(cls, data: dict[str, Any]) -> SyncStateEvent:
        """Raises KeyError, ValueError or TypeError on a malformed payload."""

        def uid(value: Any) -> uuid.UUID | None:
            return None if value is None else uuid.UUID(str(value))

        device_id = uid(data["device_id"])
        if device_id is None:
            raise ValueError("device sync event without device_id")
        previous = data.get("previous_sync_state")
        desired, reported = data.get("desired_plan_etag"), data.get("reported_plan_etag")
        return cls(
            device_id=device_id,
            store_id=uid(data.get("store_id")),
            group_id=uid(data.get("group_id")),
            sync_state=SyncState(data["sync_state"]),
            previous_sync_state=None if previous is None else SyncState(previous),
            since=datetime.fromisoformat(str(data["since"])),
            desired_plan_etag=None if desired is None else str(desired),
            reported_plan_etag=None if reported is None else str(reported),
        )


def parse_sync_event(payload: dict[str, Any]) -> SyncStateEvent | None:
    """A `device-sync` message, or None when malformed (logged, skipped)."""
    try:
        return SyncStateEvent.from_payload(payload)
    except (KeyError, ValueError, TypeError):
        log.warning("ignoring a malformed device-sync event")
        return None


async def publish_sync_events(
    redis: aioredis.Redis, keys: Keys, events: Sequence[SyncStateEvent]
) -> None:
    """One message per change, in a few commands (`publish_all`); nothing when none."""
    if events:
        await publish_all(redis, sync_channel(keys), [event.to_json() for event in events])
