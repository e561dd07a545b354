"""The names of the Redis pub/sub channels (before the key prefix; see `core.events_bus`).

Shared kernel: the publishers (`core.devices.status_events`, `core.devices.sync_events`, ...)
and the subscribing hub (`core.events_bus`, which identity publishes through) both need them;
here neither has to import the other's package."""

DEVICE_STATUS = "device-status"
DEVICE_SYNC = "device-sync"
INCIDENTS = "incidents"
SESSIONS = "sessions"
