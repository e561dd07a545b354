"""Request body limits per route (413), enforced by `http_common.body_limit`. The
process-wide MAX_REQUEST_BYTES setting caps every route's own limit."""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

SMALL_BODY_LIMIT = 16 * KIB  # pairing and token requests
DEFAULT_BODY_LIMIT = 64 * KIB  # heartbeats and other telemetry
EVENTS_BODY_LIMIT = 1 * MIB  # proof-of-play batches (issue 6)
