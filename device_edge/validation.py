"""Strict JSON request bodies: pydantic v2 models that forbid unknown fields.

Why strict: players are written by other teams against the published contract; a typo'd
field or a number sent as a string is a bug to surface (422 naming the field), not to guess
around. Unknown fields are refused, so nothing a client invents can reach a column.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from starlette.requests import Request

from core.errors import DomainError, ValidationFailed

M = TypeVar("M", bound=BaseModel)


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


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
    return [
        {"field": field_path(error["loc"]), "code": error["type"], "message": error["msg"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


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
    try:
        return model.model_validate_json(body)
    except PydanticValidationError as exc:
        errors = field_errors(exc)
        if any(error["code"] == "json_invalid" for error in errors):
            raise MalformedJSON(
                "the request body is not valid JSON", details={"errors": errors}
            ) from None
        raise ValidationFailed("the request body is invalid", errors=errors) from None
