"""Proof-of-play upload: `POST /v1/device/events {events: [...]}`.

The envelope is strict (an object whose only field is `events`, a list; otherwise 422), but
the events inside are validated one by one by `core.proof_of_play`, so one bad event never
costs the player its good ones: each refusal comes back in `errors` with its index and code.
More than 1,000 events or 1 MiB is refused whole with 413.

The answer is sent only after COMMIT: a 200 means every accepted event is durable, so the
player may delete its buffer. Device and store come from the token and the devices row.

Each device has an ingest quota (`POP_DEVICE_EVENTS_PER_MINUTE`): the batch's events are
counted in Redis, atomically (one INCRBY), before any database work; over the quota the
answer is 429 with `Retry-After`, and the player resends the same batch later.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from core.inputs import json_bytes_may_hold_unstorable_text
from core.proof_of_play import RejectCode
from core.proof_of_play.models import MAX_BATCH_EVENTS, MAX_PAYLOAD_BYTES
from core.proof_of_play.uploads import record_device_plays
from core.proof_of_play.validation import ShapedBatch, shape_batch_json
from device_edge.auth import authenticate_device
from device_edge.context import edge_context
from device_edge.limits import EVENTS_BODY_LIMIT
from device_edge.responses import ORJSONResponse
from device_edge.routing import EdgeRoute, Operation, Reply
from device_edge.validation import StrictModel, parse_json


class EventsEnvelope(StrictModel):
    """What is parsed: the envelope only; each event is checked on its own by core."""

    judged_per_item = frozenset({"events"})  # unstorable text refuses one event, not the batch

    events: list[Any]


class ProofEvent(BaseModel):
    """One playback event, as documented (refusals are per event, see `errors`)."""

    event_id: uuid.UUID = Field(
        description="Idempotency key, by itself: an id already stored for this device is a "
        "duplicate whatever its other fields (a resend with another device_time included); an "
        "id already stored for another device is refused (`event_id_conflict`)."
    )
    type: Literal["PLAY_START", "PLAY_END"]
    device_time: AwareDatetime = Field(
        description="Player clock with a UTC offset; at most POP_CLOCK_SKEW_S (5 min) ahead "
        "of the server and at most POP_MAX_BACKDATE_DAYS (35 days) in the past "
        "(`device_time_too_old`); a value whose offset leaves the representable range is "
        "`invalid_device_time`. Resend the same value on retry."
    )
    playlist_id: uuid.UUID = Field(
        description="With content_id, content_version, campaign_id and schedule_id: the item "
        "of a plan this device was given, copied from the plan. Anything else is refused "
        "(`unknown_playlist`, `unknown_content`, `unknown_campaign`, `unknown_schedule`, "
        "`mismatched_references`, `not_scheduled`)."
    )
    content_id: uuid.UUID
    content_version: int = Field(ge=1, le=2**31 - 1)
    campaign_id: uuid.UUID | None = Field(
        default=None,
        description="The plan item's campaign_id; omitted, the play counts under no campaign.",
    )
    schedule_id: uuid.UUID | None = Field(
        default=None, description="The plan item's schedule_id (null for fallback items)."
    )
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
    payload: dict[str, Any] | None = Field(
        default=None,
        description=f"The player's own notes on the play: at most {MAX_PAYLOAD_BYTES} bytes "
        "as compact JSON (`payload_too_large`), storable values only (`invalid_payload`: no "
        "NUL or lone surrogates, integers within 64 bits, finite numbers, 32 levels deep).",
    )


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
        if json_bytes_may_hold_unstorable_text(body) and (events := _escaped_events(body)):
            return events
    return (await parse_json(request, EventsEnvelope)).events


def _escaped_events(body: bytes) -> list[Any] | None:
    """A batch pydantic's parser refused for a lone-surrogate escape somewhere in it (valid
    JSON, but text nothing can store), decoded by the standard library so that only the events
    holding it are refused (`invalid_payload`), not the batch. None: leave the answer to the
    strict envelope."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or set(document) != {"events"}:
        return None
    events = document["events"]
    return events if isinstance(events, list) and events else None


async def post_events(request: Request) -> Response:
    device = await authenticate_device(request)
    events = await read_events(request)
    services = edge_context(request).services
    result = await record_device_plays(services, device.device_id, events)
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
                "and each refusal is listed in `errors` with its index and code. A device can "
                "only report plays of items of plans it was given (see `playlist_id`). Events "
                "already stored are counted as `duplicates` and change nothing; idempotency is "
                "by `event_id` alone. A 200 is sent only after the events are durably "
                "committed: the player may then drop its buffer. Each device may upload "
                "POP_DEVICE_EVENTS_PER_MINUTE events a minute (10,000 by default): beyond it, "
                "429 `rate_limited` with `Retry-After`; resend the same batch then."
            ),
            tags=("proof-of-play",),
            request_model=EventsRequest,
            replies=(Reply(200, "Batch processed", EventsResponse),),
            errors={429: ("rate_limited",)},
            authenticated=True,
            max_body_bytes=EVENTS_BODY_LIMIT,
        ),
    )
]
