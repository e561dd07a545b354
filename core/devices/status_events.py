"""Device status events on Redis pub/sub, the contract between the edge and live status.

Any process that changes a device's status (a heartbeat on any edge process, the offline
sweep in the workers) publishes one JSON message per change on the `device-status` channel;
every API process subscribes and fans the events out to GraphQL subscriptions.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import redis.asyncio as aioredis

from core.kernel.channels import DEVICE_STATUS
from core.redis_client import Keys, publish_all

CHANNEL_NAME = DEVICE_STATUS


def status_channel(keys: Keys) -> str:
    return keys.channel(CHANNEL_NAME)


@dataclass(frozen=True)
class DeviceStatusEvent:
    device_id: uuid.UUID
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    status: str
    previous_status: str | None
    last_seen_at: datetime | None

    def to_json(self) -> bytes:
        def text(value: uuid.UUID | None) -> str | None:
            return None if value is None else str(value)

        return orjson.dumps(
            {
                "device_id": str(self.device_id),
                "store_id": text(self.store_id),
                "group_id": text(self.group_id),
                "status": self.status,
                "previous_status": self.previous_status,
                "last_seen_at": self.last_seen_at,
            }
        )

    @classmethod
    def from_json(cls, raw: bytes | str) -> DeviceStatusEvent:
        data: dict[str, Any] = orjson.loads(raw)

        def uid(value: Any) -> uuid.UUID | None:
            return None if value is None else uuid.UUID(str(value))

        device_id = uid(data["device_id"])
        if device_id is None:
            raise ValueError("device status event without device_id")
        seen = data.get("last_seen_at")
        return cls(
            device_id=device_id,
            store_id=uid(data.get("store_id")),
            group_id=uid(data.get("group_id")),
            status=str(data["status"]),
            previous_status=data.get("previous_status"),
            last_seen_at=None if seen is None else datetime.fromisoformat(seen),
        )


async def publish_status_events(
    redis: aioredis.Redis, keys: Keys, events: Sequence[DeviceStatusEvent]
) -> None:
    """One message per event, in a few commands: a sweep that flips thousands of devices
    costs a handful of round trips (`publish_all`)."""
    if events:
        await publish_all(redis, status_channel(keys), [event.to_json() for event in events])
