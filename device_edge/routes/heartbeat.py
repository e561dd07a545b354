"""The heartbeat."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from core.devices.heartbeat import HeartbeatReport
from core.devices.sync_state import content_key
from device_edge.auth import authenticate_device
from device_edge.context import edge_context
from device_edge.responses import ORJSONResponse
from device_edge.routing import EdgeRoute, Operation, Reply
from device_edge.schemas.heartbeat import HeartbeatRequest, HeartbeatResponse
from device_edge.validation import parse_json


def cached_keys(body: HeartbeatRequest) -> list[str] | None:
    if body.cached_content_versions is None:
        return None
    return [content_key(c.content_id, c.version) for c in body.cached_content_versions]


def failures(body: HeartbeatRequest) -> dict[str, dict[str, Any]] | None:
    """By content key; a version listed twice keeps its last entry."""
    if body.failed_content_versions is None:
        return None
    return {
        content_key(f.content_id, f.version): {
            "error": f.error,
            "at": None if f.at is None else f.at.astimezone(UTC).isoformat(),
        }
        for f in body.failed_content_versions
    }


async def heartbeat(request: Request) -> Response:
    # The epoch is checked by the heartbeat statement itself, against the device row.
    device = await authenticate_device(request, check_epoch=False)
    body = await parse_json(request, HeartbeatRequest)
    # Coalesced with the process's concurrent heartbeats into one statement (see the writer).
    ack = await edge_context(request).heartbeats.record(
        device.device_id,
        HeartbeatReport(
            disk_used_bytes=body.disk_used_bytes,
            now_playing=(
                body.now_playing.model_dump(mode="json", exclude_none=True)
                if body.now_playing
                else None
            ),
            plan_etag=body.plan_etag,
            last_error=body.last_error,
            counters=body.counters.model_dump(exclude_none=True),
            device_info=body.device_info.stored() if body.device_info else None,
            token_epoch=device.token_epoch,
            cached_content=cached_keys(body),
            failed_content=failures(body),
        ),
    )
    # A plain dict straight to orjson: this is the hottest answer on the edge.
    return ORJSONResponse(
        {
            "server_time": ack.server_time,
            "plan_etag": ack.plan_etag,
            "plan_changed": ack.plan_changed,
            "heartbeat_interval_s": ack.heartbeat_interval_s,
        }
    )


routes = [
    EdgeRoute(
        "/v1/device/heartbeat",
        heartbeat,
        method="POST",
        operation=Operation(
            operation_id="heartbeat",
            summary="Report liveness and telemetry; learn whether the plan changed",
            description=(
                "Marks the device online and stores its telemetry. `plan_changed` is true when "
                "the server's current plan ETag differs from `plan_etag`: fetch the plan then. "
                "Send the next heartbeat after `heartbeat_interval_s` seconds. The optional "
                "`cached_content_versions` and `failed_content_versions` tell the console how "
                "far the player is from its desired plan (sync state: in sync, pending, "
                "downloading, failed); older players that omit them keep working unchanged."
            ),
            tags=("device",),
            request_model=HeartbeatRequest,
            replies=(Reply(200, "Heartbeat recorded", HeartbeatResponse),),
            authenticated=True,
        ),
    )
]
