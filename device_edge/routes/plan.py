"""GET /v1/device/plan: the device's resolved playout plan, with ETag / If-None-Match.

The 304 path is the hot one (every player polls, plans rarely change), so it touches only
Redis: `authenticate_device` checks the access token against the device's Redis-cached
epoch and, in the same MGET, reads the current plan ETag the planning workers write after
COMMIT (`core.devices.state_reader`, which coalesces a process's concurrent polls into one
MGET per batch). PostgreSQL is queried only for a full download.

If-None-Match uses the weak comparison of RFC 9110 §13.1.2: `"<etag>"`, `W/"<etag>"`, a
comma-separated list of them, and `*` all work. A bare, unquoted ETag (as the heartbeat
reports it) is accepted too, since some player HTTP stacks send it that way.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import Counter
from pydantic import Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope, Send

from core.plans import get_plan
from device_edge.auth import authenticate_device, authenticate_header
from device_edge.context import app_context, edge_context
from device_edge.routing import EdgeRoute, Operation, Reply
from device_edge.schemas.common import ResponseModel

CACHE_CONTROL = "private, no-cache"

PLAN_POLLS = Counter(
    "signage_plan_polls", "Plan polls answered: 304 not modified, or the plan sent.", ["result"]
)
NOT_MODIFIED = PLAN_POLLS.labels("not_modified")
SENT = PLAN_POLLS.labels("sent")


def requested_etags(header: str) -> set[str]:
    """The opaque tags of an If-None-Match value, quotes and `W/` removed ("*" kept)."""
    tags: set[str] = set()
    for part in header.split(","):
        tag = part.strip()
        if tag[:2] in ("W/", "w/"):
            tag = tag[2:].lstrip()
        if len(tag) >= 2 and tag[0] == tag[-1] == '"':
            tag = tag[1:-1]
        if tag:
            tags.add(tag)
    return tags


def none_match_hits(header: str, current: str) -> bool:
    """True when the client already has `current` (so the answer is 304)."""
    tags = requested_etags(header)
    return "*" in tags or current in tags


def _headers(etag: str) -> dict[str, str]:
    return {"ETag": f'"{etag}"', "Cache-Control": CACHE_CONTROL, "Vary": "Authorization"}


def _not_modified(etag: str) -> Response:
    return Response(status_code=304, headers=_headers(etag))


async def answered_not_modified(
    app: Starlette, scope: Scope, send: Send, extra_headers: Sequence[tuple[bytes, bytes]] = ()
) -> bool:
    """The plan poll's 304, answered before Starlette's middleware and routing; False when
    this request needs anything else, which the full stack (`plan` below) then answers.

    Why: nearly every plan poll is a 304, and on that path the middleware layers, the router
    and the Request object cost more CPU than the answer itself. This checks exactly what
    `plan` checks (the same `authenticate_header`, the same If-None-Match rule) and answers
    only the success case; any failure, whatever its cause, goes the full way, so errors
    keep their single mapping in `device_edge.errors`. `extra_headers` are the app's
    precomputed security headers, which the skipped middleware would have added.
    """
    authorization = condition = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"if-none-match" and condition is None:
            condition = value.decode("latin-1")
    if authorization is None or condition is None:
        return False
    try:
        device = await authenticate_header(app_context(app), authorization)
    except Exception:  # the full stack repeats the call and answers the error properly
        return False
    current = device.plan_etag
    if current is None or not none_match_hits(condition, current):
        return False
    headers = [(name.lower().encode(), value.encode()) for name, value in _headers(current).items()]
    headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": 304, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
    NOT_MODIFIED.inc()
    return True


async def plan(request: Request) -> Response:
    device = await authenticate_device(request)
    condition = request.headers.get("if-none-match")
    current = device.plan_etag  # read with the token epoch, in the same Redis round trip
    if condition is not None and current is not None and none_match_hits(condition, current):
        NOT_MODIFIED.inc()
        return _not_modified(current)
    services = edge_context(request).services
    computed = await get_plan(services, device.device_id)
    if condition is not None and none_match_hits(condition, computed.etag):
        NOT_MODIFIED.inc()
        return _not_modified(computed.etag)
    SENT.inc()
    # The canonical JSON bytes: the ETag is "sha256-" + the first 32 hex digits of their hash.
    return Response(computed.body, media_type="application/json", headers=_headers(computed.etag))


# --- the documented shape (the body itself comes from core.scheduling.build_plan) -----------


class PlanEntry(ResponseModel):
    content_id: str
    version: int = Field(description="Content version number.")
    url: str = Field(description="Stable download URL (no per-request signature).")
    sha256: str = Field(description="Hex digest the player verifies after download.")
    bytes: int
    mime: str
    duration_ms: int | None = Field(description="null: the player's default for the type.")
    weight: int = Field(description="Share of voice when schedules are merged.")
    caps: list[str] = Field(description="Ids of the frequency caps (in `caps`) gating it.")
    playlist_id: str
    schedule_id: str | None = Field(description="null when it plays as the default playlist.")
    campaign_id: str | None


class PlanWindow(ResponseModel):
    start: str = Field(description="UTC instant, inclusive (YYYY-MM-DDTHH:MM:SSZ).")
    end: str = Field(description="UTC instant, exclusive.")
    utc_offset_minutes: int = Field(description="The store's UTC offset during the window.")
    fallback: bool = Field(description="True when the group's default playlist fills a gap.")
    schedule_ids: list[str]
    playlist_ids: list[str]
    campaign_ids: list[str]
    sequence: list[int] = Field(description="Indexes into `items`, in play order (loop it).")


class PlanCap(ResponseModel):
    id: str
    scope: str = Field(description="ITEM or CAMPAIGN.")
    max_plays: int
    per_seconds: int
    content_id: str | None
    campaign_id: str | None
    schedule_id: str | None
    declared_by: list[str]


class PlanDocument(ResponseModel):
    version: int = Field(description="Plan format version.")
    valid_from: str
    valid_to: str = Field(description="Always at least 72 hours ahead of the server's now.")
    timezone: str = Field(description="The store's IANA timezone.")
    items: list[PlanEntry]
    windows: list[PlanWindow] = Field(description="Sorted, non-overlapping; no window: idle.")
    caps: list[PlanCap]


PATH = "/v1/device/plan"

routes = [
    EdgeRoute(
        PATH,
        plan,
        method="GET",
        operation=Operation(
            operation_id="getPlan",
            summary="The resolved playout plan for the next 72 hours",
            description=(
                "Send the ETag of the plan you run as `If-None-Match`; 304 means keep it. "
                "The heartbeat's `plan_changed` says when to fetch again. A device without a "
                "plan gets one generated on demand."
            ),
            tags=("device",),
            replies=(
                Reply(
                    200,
                    "The plan",
                    PlanDocument,
                    headers={"ETag": "Strong validator of this plan", "Cache-Control": "no-cache"},
                ),
                Reply(304, "Unchanged: the plan named by If-None-Match is current"),
            ),
            errors={404: ("not_found",)},
            authenticated=True,
            parameters=(
                {
                    "name": "If-None-Match",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string"},
                    "description": 'The ETag you have: "<etag>", W/"<etag>", a list, or *.',
                },
            ),
        ),
    )
]
