"""Proof-of-play upload: `POST /v1/device/events {events: [...]}`.

The envelope is strict (an object whose only field is `events`, a list; otherwise 422), but
the events inside are validated one by one by `core.proof_of_play`, so one bad event never
costs the player its good ones: each refusal comes back in `errors` with its index and code.
More than 1,000 events or 1 MiB is refused whole with 413.

The answer is sent only after COMMIT: a 200 means every accepted event is durable, so the
player may delete its buffer. Device and store come from the token and the devices row.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from core.devices.heartbeat import DeviceNotActive
from core.proof_of_play import IngestPolicy, RejectCode, ingest_events, load_device_context
from core.proof_of_play.ingest import ensure_batch_size
from core.proof_of_play.models import MAX_BATCH_EVENTS
from core.proof_of_play.validation import ShapedBatch, shape_batch_json
from device_edge.auth import authenticate_device
from device_edge.context import edge_context
from device_edge.limits import EVENTS_BODY_LIMIT
from device_edge.responses import ORJSONResponse
from device_edge.routing import EdgeRoute, Operation, Reply
from device_edge.validation import StrictModel, parse_json


class EventsEnvelope(StrictModel):
    """What is parsed: the envelope only; each event is checked on its own by core."""

    events: list[Any]


class ProofEvent(BaseModel):
    """One playback event, as documented (refusals are per event, see `errors`)."""

    event_id: uuid.UUID = Field(description="Idempotency key: resend the same id on retry.")
    type: Literal["PLAY_START", "PLAY_END"]
    device_time: AwareDatetime = Field(
        description="Player clock with a UTC offset; at most 5 min ahead of the server, and "
        "not older than the retention window. Resend the same value on retry."
    )
    playlist_id: uuid.UUID
    content_id: uuid.UUID
    content_version: int = Field(ge=1, le=2**31 - 1)
    campaign_id: uuid.UUID | None = None
    schedule_id: uuid.UUID | None = None
    duration_ms: int | None = Field(
        default=None,
        ge=0,
        le=86_400_000,
        description="Required on PLAY_END. Refused beyond 24 h, or for video beyond 3x the "
        "content's duration + 60 s.",
    )
    result: Literal["COMPLETED", "SKIPPED", "ERROR", "INTERRUPTED"] | None = Field(
        default=None, description="Required on PLAY_END."
    )
    payload: dict[str, Any] | None = None


class EventsRequest(BaseModel):
    events: list[ProofEvent] = Field(max_length=MAX_BATCH_EVENTS)


class EventRejection(BaseModel):
    index: int = Field(description="Position of the event in the request's `events`.")
    event_id: str | None
    code: RejectCode
    message: str


class EventsResponse(BaseModel):
    accepted: int = Field(description="Events stored by this request.")
    duplicates: int = Field(description="Events already stored (or repeated in this batch).")
    rejected: int
    errors: list[EventRejection]


def _declares_json(request: Request) -> bool:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return media == "application/json"


async def read_events(request: Request) -> list[Any] | ShapedBatch:
    """The batch's events: shape-checked straight from the bytes when the whole batch has the
    common valid shape (the usual case, and the fast one), else through the strict envelope
    (422/400/415 on a bad envelope) for core to judge event by event."""
    body = await request.body()  # size-limited by the route
    if _declares_json(request):
        shaped = shape_batch_json(body)
        if shaped is not None:
            return shaped
    return (await parse_json(request, EventsEnvelope)).events


async def post_events(request: Request) -> Response:
    device = await authenticate_device(request)
    events = await read_events(request)
    services = edge_context(request).services
    policy = IngestPolicy.from_settings(services.settings)
    ensure_batch_size(len(events), policy)  # before taking a connection
    async with services.uow() as uow:
        context = await load_device_context(uow.conn, device.device_id)
        if context is None:
            raise DeviceNotActive("this device no longer exists")
        result = await ingest_events(uow.conn, context, events, clock=services.clock, policy=policy)
        await uow.commit()
    return ORJSONResponse(result.as_dict())


routes = [
    EdgeRoute(
        "/v1/device/events",
        post_events,
        method="POST",
        operation=Operation(
            operation_id="postProofOfPlayEvents",
            summary="Upload a batch of proof-of-play events (idempotent by event_id)",
            description=(
                "At most 1,000 events and 1 MiB per request (413 otherwise). Each event is "
                "validated on its own: good events are stored even when others are refused, "
                "and each refusal is listed in `errors` with its index and code. Events already "
                "stored are counted as `duplicates` and change nothing. A 200 is sent only "
                "after the events are durably committed: the player may then drop its buffer."
            ),
            tags=("proof-of-play",),
            request_model=EventsRequest,
            replies=(Reply(200, "Batch processed", EventsResponse),),
            authenticated=True,
            max_body_bytes=EVENTS_BODY_LIMIT,
        ),
    )
]
