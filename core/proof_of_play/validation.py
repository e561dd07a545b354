"""Per-event validation: a batch is never refused as a whole for one bad event.

Each event becomes either a `ValidEvent` (its row, ready for PostgreSQL) or an `EventError`
with a machine-readable code, and the good ones go on.

Two paths, one verdict:
- `parse_event` is the authoritative, rule-by-rule check that names the first broken rule;
- the fast path validates the whole batch's common shape at once with pydantic-core (Rust),
  straight from the request bytes when the edge has them (`shape_batch_json`), and only
  finishes in Python what needs "now" (the time window) or several fields (PLAY_END needs a
  duration and a result). Whatever it does not accept goes to `parse_event`; it may only be
  stricter, never looser (a property test checks it). This matters: it is the hot loop of the
  edge, a thousand events per request.

Identifiers are checked against the canonical uuid text form and handed to PostgreSQL as text
(its uuid input parses them), which is far cheaper than building `uuid.UUID` objects.

Storable values (`core.inputs`, the one input rule): a `device_time` whose UTC offset would push
it past the datetime range, or a `payload` holding text, numbers or nesting PostgreSQL's jsonb
(or our encoder) cannot take, is refused for that event only. Before, either failed the
statement, hence the whole batch (a 500, the good events lost). The payload check gates the
per-value walk on its compact encoding, which every payload is serialised to anyway for its
size cap, so an ordinary payload is never walked in Python.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NotRequired, cast

import orjson
from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict

from core.db.enums import EventType, PlayResult
from core.inputs import (
    MAX_JSON_DEPTH,
    MESSAGES,
    first_json_problem,
    instant_problem,
    text_problem,
)
from core.proof_of_play.models import EventError, IngestPolicy, RejectCode

_UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID = re.compile(_UUID_PATTERN)
_TYPES = frozenset(t.value for t in EventType)
_RESULTS = frozenset(r.value for r in PlayResult)
_MAX_INT32 = 2**31 - 1
_PLAY_END = EventType.PLAY_END.value
# In a payload's compact encoding, an integer beyond bigint needs at least 19 digits.
_LONG_DIGITS = re.compile(rb"\d{19}")
_MAX_ECHOED = 100  # longest invalid event_id repeated in an error entry

# The validated fields of one event (the ingest statement reads them, see ingest.py):
# event_id, device_time, type, playlist_id, content_id, content_version, campaign_id,
# schedule_id, duration_ms, result, payload (absent keys are NULL).
EventRow = dict[str, Any]


@dataclass(slots=True)
class ValidEvent:
    index: int
    key: str  # the lower-case event_id: the idempotency key within a batch
    row: EventRow


# --- the fast path: the common valid shape, checked in Rust -----------------------------------

_Uuid = Annotated[str, StringConstraints(pattern=f"^{_UUID_PATTERN}$")]


@with_config(ConfigDict(strict=True, extra="ignore"))
class _Shape(TypedDict):
    event_id: _Uuid
    type: Literal["PLAY_START", "PLAY_END"]
    device_time: str  # parsed (and windowed) in Python, exactly as `parse_event` does
    playlist_id: _Uuid
    content_id: _Uuid
    content_version: Annotated[int, Field(ge=1, le=_MAX_INT32)]
    campaign_id: NotRequired[_Uuid | None]
    schedule_id: NotRequired[_Uuid | None]
    duration_ms: NotRequired[Annotated[int, Field(ge=0)] | None]  # the cap is the policy's
    result: NotRequired[Literal["COMPLETED", "SKIPPED", "ERROR", "INTERRUPTED"] | None]
    payload: NotRequired[dict[str, Any] | None]


@with_config(ConfigDict(strict=True, extra="forbid"))
class _Envelope(TypedDict):
    events: list[_Shape]


_SHAPES = TypeAdapter(list[_Shape])
_ENVELOPE = TypeAdapter(_Envelope)


@dataclass(frozen=True)
class ShapedBatch:
    """Events already known to have the common valid shape (from `shape_batch_json`).

    Single use: validating it normalises its rows in place (they become the rows sent to
    PostgreSQL), so it is not copied a second time on the hot path."""

    events: list[EventRow]

    def __len__(self) -> int:
        return len(self.events)


def shape_batch_json(body: bytes) -> ShapedBatch | None:
    """`{"events": [...]}` parsed and shape-checked in one pass, or None if anything in it
    deviates (a bad event, a bad envelope, bad JSON): the caller then takes the careful path."""
    try:
        return ShapedBatch(cast("list[EventRow]", _ENVELOPE.validate_json(body)["events"]))
    except ValidationError:
        return None


# --- the authoritative path: one rule at a time ------------------------------------------------


class _Reject(Exception):
    def __init__(self, code: RejectCode, message: str) -> None:
        self.code = code
        self.message = message


def _optional_uuid(event: dict[str, Any], name: str) -> str | None:
    value = event.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or _UUID.fullmatch(value) is None:
        raise _Reject(RejectCode.INVALID_ID, f"{name} must be a uuid")
    return value  # as sent: PostgreSQL's uuid input takes either case


def _required_uuid(event: dict[str, Any], name: str) -> str:
    value = _optional_uuid(event, name)
    if value is None:
        raise _Reject(RejectCode.INVALID_ID, f"{name} is required")
    return value


def _int(value: object) -> int | None:
    """An int, refusing bools and fractional numbers (JSON has no int type of its own)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _device_time(value: object, now: datetime, policy: IngestPolicy) -> datetime:
    if not isinstance(value, str):
        raise _Reject(RejectCode.INVALID_DEVICE_TIME, "device_time must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _Reject(
            RejectCode.INVALID_DEVICE_TIME, "device_time is not an ISO 8601 date-time"
        ) from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise _Reject(
            RejectCode.INVALID_DEVICE_TIME, "device_time needs a UTC offset (e.g. Z or +09:00)"
        )
    problem = instant_problem(parsed)  # before converting: the conversion itself may overflow
    if problem is not None:
        raise _Reject(RejectCode.INVALID_DEVICE_TIME, f"device_time: {MESSAGES[problem]}")
    parsed = parsed.astimezone(UTC)
    if parsed > now + policy.clock_skew:
        raise _Reject(
            RejectCode.DEVICE_TIME_IN_FUTURE,
            f"device_time is more than {int(policy.clock_skew.total_seconds())} s in the future",
        )
    if parsed < now - timedelta(days=policy.backdate_days):
        raise _Reject(
            RejectCode.DEVICE_TIME_TOO_OLD,
            f"device_time is more than {policy.backdate_days} days in the past",
        )
    return parsed


def payload_problem(payload: dict[str, Any], policy: IngestPolicy) -> tuple[RejectCode, str] | None:
    """Why this payload cannot be stored, or None.

    The compact encoding decides cheaply when the per-value walk (`core.inputs`) is needed:
    orjson refuses lone surrogates, integers beyond 64 bits and extreme nesting; it writes NUL
    as a `\\u` escape and NaN or infinity as null; an integer beyond bigint has 19+ digits;
    and nesting can be no deeper than the number of brackets. Without any of these signs the
    payload is storable, so the walk is skipped."""
    try:
        encoded: bytes | None = orjson.dumps(payload)
    except orjson.JSONEncodeError:
        encoded = None
    if encoded is not None:
        if len(encoded) > policy.max_payload_bytes:
            return (
                RejectCode.PAYLOAD_TOO_LARGE,
                f"payload is {len(encoded)} bytes of JSON; at most {policy.max_payload_bytes}",
            )
        if (
            b"\\u" not in encoded
            and b"null" not in encoded
            and encoded.count(b"{") + encoded.count(b"[") <= MAX_JSON_DEPTH
            and _LONG_DIGITS.search(encoded) is None
        ):
            return None
    found = first_json_problem(payload, "payload")
    if found is not None:
        path, code = found
        return RejectCode.INVALID_PAYLOAD, f"{path}: {MESSAGES[code]}"
    if encoded is None:
        return RejectCode.INVALID_PAYLOAD, "payload cannot be encoded as JSON"
    return None


def _duration(event: dict[str, Any], policy: IngestPolicy) -> int | None:
    raw = event.get("duration_ms")
    if raw is None:
        return None
    value = _int(raw)
    if value is None:
        raise _Reject(RejectCode.INVALID_DURATION, "duration_ms must be an integer")
    if value < 0:
        raise _Reject(RejectCode.NEGATIVE_DURATION, "duration_ms must not be negative")
    if value > policy.max_duration_ms:
        raise _Reject(
            RejectCode.DURATION_TOO_LONG,
            f"duration_ms exceeds the maximum of {policy.max_duration_ms} ms",
        )
    return value


def _row(event: dict[str, Any], now: datetime, policy: IngestPolicy) -> EventRow:
    kind = event.get("type")
    if not isinstance(kind, str) or kind not in _TYPES:
        raise _Reject(RejectCode.INVALID_TYPE, "type must be PLAY_START or PLAY_END")
    playlist_id = _required_uuid(event, "playlist_id")
    content_id = _required_uuid(event, "content_id")
    campaign_id = _optional_uuid(event, "campaign_id")
    schedule_id = _optional_uuid(event, "schedule_id")
    version = _int(event.get("content_version"))
    if version is None or not 0 < version <= _MAX_INT32:
        raise _Reject(
            RejectCode.INVALID_CONTENT_VERSION, "content_version must be a positive integer"
        )
    device_time = _device_time(event.get("device_time"), now, policy)
    duration = _duration(event, policy)
    result = event.get("result")
    if result is not None and (not isinstance(result, str) or result not in _RESULTS):
        raise _Reject(
            RejectCode.INVALID_RESULT, "result must be COMPLETED, SKIPPED, ERROR or INTERRUPTED"
        )
    if kind == EventType.PLAY_END:
        if duration is None:
            raise _Reject(RejectCode.MISSING_DURATION, "a PLAY_END event needs duration_ms")
        if result is None:
            raise _Reject(RejectCode.MISSING_RESULT, "a PLAY_END event needs a result")
    payload = event.get("payload")
    if payload is not None and not isinstance(payload, dict):
        raise _Reject(RejectCode.INVALID_PAYLOAD, "payload must be a JSON object")
    if payload and (problem := payload_problem(payload, policy)) is not None:
        raise _Reject(*problem)
    return {
        "event_id": event["event_id"],
        "device_time": device_time,
        "type": kind,
        "playlist_id": playlist_id,
        "content_id": content_id,
        "content_version": version,
        "campaign_id": campaign_id,
        "schedule_id": schedule_id,
        "duration_ms": duration,
        "result": result,
        "payload": payload,
    }


def _echoable(value: str) -> bool:
    return len(value) <= _MAX_ECHOED and text_problem(value) is None


def parse_event(
    index: int, event: object, now: datetime, policy: IngestPolicy
) -> ValidEvent | EventError:
    """Validate one raw event; the first broken rule decides the error code."""
    if not isinstance(event, dict):
        return EventError(index, None, RejectCode.INVALID_EVENT, "an event must be a JSON object")
    raw_id = event.get("event_id")
    if not isinstance(raw_id, str) or _UUID.fullmatch(raw_id) is None:
        # Echoed only when it is short, storable text: the answer must never fail to encode.
        shown = raw_id if isinstance(raw_id, str) and _echoable(raw_id) else None
        return EventError(index, shown, RejectCode.INVALID_EVENT_ID, "event_id must be a uuid")
    try:
        return ValidEvent(index, raw_id.lower(), _row(event, now, policy))
    except _Reject as reject:
        return EventError(index, raw_id, reject.code, reject.message)


def check_content_duration(
    event: ValidEvent, content_duration_ms: int | None, policy: IngestPolicy
) -> EventError | None:
    """The "far beyond the content's own duration" rule (see IngestPolicy)."""
    duration = event.row.get("duration_ms")
    if duration is None or content_duration_ms is None:
        return None
    limit = policy.content_limit_ms(content_duration_ms)
    if duration <= limit:
        return None
    return EventError(
        event.index,
        event.row["event_id"],
        RejectCode.DURATION_EXCEEDS_CONTENT,
        f"duration_ms {duration} is far beyond the content's {content_duration_ms} ms "
        f"(limit {limit} ms)",
    )


class EventValidator:
    """Validates the events of one batch against one "now" (the bounds are computed once)."""

    def __init__(self, now: datetime, policy: IngestPolicy) -> None:
        self.now = now
        self.policy = policy
        self._latest = now + policy.clock_skew
        self._oldest = now - timedelta(days=policy.backdate_days)

    def validate(
        self, events: Sequence[object] | ShapedBatch
    ) -> tuple[list[ValidEvent], list[EventError]]:
        """Every event's verdict: the valid ones (in order) and the errors (in order)."""
        if isinstance(events, ShapedBatch):
            return self._fast(events.events)
        try:
            shaped = cast("list[EventRow]", _SHAPES.validate_python(events))
        except ValidationError:  # some event is off the common shape: judge each on its own
            valid: list[ValidEvent] = []
            errors: list[EventError] = []
            for index, event in enumerate(events):
                self._add(parse_event(index, event, self.now, self.policy), valid, errors)
            return valid, errors
        return self._fast(shaped)

    def _fast(self, shaped: list[EventRow]) -> tuple[list[ValidEvent], list[EventError]]:
        valid: list[ValidEvent] = []
        errors: list[EventError] = []
        latest, oldest = self._latest, self._oldest
        policy = self.policy
        max_duration = policy.max_duration_ms
        parse_time = datetime.fromisoformat
        for index, row in enumerate(shaped):
            # What the shape cannot express: the duration cap, PLAY_END's required fields,
            # the device time (ISO 8601 with an offset, inside the window) and a storable
            # payload within its cap. Anything doubtful goes to the rule-by-rule path, which
            # decides and names the rule.
            get = row.get
            duration = get("duration_ms")
            payload = get("payload")
            try:
                at = parse_time(row["device_time"])
            except ValueError:
                at = None
            if (
                at is None
                or at.tzinfo is None
                or at.utcoffset() is None
                or not oldest <= at <= latest
                or (duration is not None and duration > max_duration)
                or (row["type"] == _PLAY_END and (duration is None or get("result") is None))
                or (payload and payload_problem(payload, policy) is not None)
            ):
                self._add(parse_event(index, row, self.now, self.policy), valid, errors)
                continue
            row["device_time"] = at if at.tzinfo is UTC else at.astimezone(UTC)
            valid.append(ValidEvent(index, row["event_id"].lower(), row))
        return valid, errors

    @staticmethod
    def _add(
        outcome: ValidEvent | EventError, valid: list[ValidEvent], errors: list[EventError]
    ) -> None:
        if isinstance(outcome, EventError):
            errors.append(outcome)
        else:
            valid.append(outcome)
