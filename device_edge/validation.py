"""Strict JSON request bodies: pydantic v2 models that forbid unknown fields.

Why strict: players are written by other teams against the published contract; a typo'd
field or a number sent as a string is a bug to surface (422 naming the field), not to guess
around. Unknown fields are refused, so nothing a client invents can reach a column.

Storable values (`core.inputs`, the one rule of every boundary): a string PostgreSQL or a
JSON column cannot hold (NUL, lone surrogates), anywhere in the body including object keys,
is a 422 naming each field. Such a string can only arrive as a `\\u` escape, so a byte search
(`json_bytes_may_hold_unstorable_text`) keeps the per-value walk off the hot path: a heartbeat
without a `\\u` escape is parsed exactly once, by pydantic. Integers carry their column's
bounds in the models, and date-times use `Instant`.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import PydanticCustomError
from starlette.requests import Request

from core.errors import DomainError, ValidationFailed
from core.inputs import (
    MAX_REPORTED_PROBLEMS,
    MESSAGES,
    TOO_DEEPLY_NESTED,
    instant_problem,
    json_bytes_may_hold_unstorable_text,
    json_problems,
    problem_entries,
)

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    # Top-level fields typed `Any` whose items the route hands, unjudged, to a consumer that
    # applies `core.inputs` item by item (a proof-of-play batch refuses per event, so one bad
    # event must not refuse the batch). Everything else in the body is checked by parse_json.
    judged_per_item: ClassVar[frozenset[str]] = frozenset()


def _storable_instant(value: datetime) -> datetime:
    problem = instant_problem(value)
    if problem is not None:
        raise PydanticCustomError(problem, MESSAGES[problem])
    return value


# A date-time with a UTC offset, far enough inside the datetime range that converting it to
# UTC (or a day of arithmetic) cannot overflow later, in a sweep or a report.
Instant = Annotated[AwareDatetime, AfterValidator(_storable_instant)]


class MalformedJSON(DomainError):
    code = "malformed_json"
    status_hint = 400


class UnsupportedMediaType(DomainError):
    code = "unsupported_media_type"
    status_hint = 415


def field_path(loc: tuple[int | str, ...]) -> str:
    """("events", 3, "duration_ms") -> "events[3].duration_ms"."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def field_errors(exc: PydanticValidationError) -> list[dict[str, Any]]:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    return [
        {"field": field_path(error["loc"]), "code": error["type"], "message": error["msg"]}
        for error in errors[:MAX_REPORTED_PROBLEMS]  # thousands of unknown keys: one answer
    ]


def unstorable_text_errors(body: bytes, skip: frozenset[str] = frozenset()) -> list[dict[str, str]]:
    """Per-field errors for strings (values and keys) of a JSON body that cannot be stored,
    and for numbers no JSON column holds, met on the same walk (`core.inputs.json_problems`).

    Decoded with the standard library on purpose: unlike pydantic's parser it accepts the
    lone-surrogate escapes JSON allows, so they are reported per field (422) like NUL rather
    than as malformed JSON. A body it cannot decode is left to pydantic, which says why
    (400); so is excessive nesting, which pydantic refuses as malformed JSON.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return []
    if skip and isinstance(document, dict):
        document = {key: value for key, value in document.items() if key not in skip}
    problems = ((path, code) for path, code in json_problems(document) if code != TOO_DEEPLY_NESTED)
    return problem_entries(problems, limit=MAX_REPORTED_PROBLEMS)


def _is_json(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


async def parse_json(request: Request, model: type[M], *, optional: bool = False) -> M:
    """Read the (size-limited) body and validate it; `optional` treats no body as `{}`."""
    body = await request.body()
    if not body.strip():
        if not optional:
            raise MalformedJSON("a JSON request body is required")
        body = b"{}"
    elif not _is_json(request):
        raise UnsupportedMediaType("send the body as application/json")
    if json_bytes_may_hold_unstorable_text(body):  # rare: skip the walk on the hot path
        skip = model.judged_per_item if issubclass(model, StrictModel) else frozenset()
        if errors := unstorable_text_errors(body, skip):
            raise ValidationFailed(
                "the request body holds text that cannot be stored", errors=errors
            )
    try:
        return model.model_validate_json(body)
    except PydanticValidationError as exc:
        errors = field_errors(exc)
        if any(error["code"] == "json_invalid" for error in errors):
            raise MalformedJSON(
                "the request body is not valid JSON", details={"errors": errors}
            ) from None
        raise ValidationFailed("the request body is invalid", errors=errors) from None
