"""Models shared by several routes: the error shape, device info and issued tokens."""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from core.inputs import INT64_MAX
from device_edge.validation import StrictModel


class ResponseModel(BaseModel):
    """An answer: its schema forbids undocumented fields, so the OpenAPI test catches them."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(ResponseModel):
    code: str = Field(description="Machine-readable reason; branch on this.")
    message: str = Field(description="Human-readable explanation; may change.")
    details: dict[str, Any] | None = Field(
        default=None,
        description=(
            "Context when useful: `errors` (per-field validation errors), `interval` "
            "(pairing polls), `retry_after_s` (rate limits), `max_bytes` (413), `field`."
        ),
    )


class ErrorBody(ResponseModel):
    """The one error shape of every 4xx and 5xx answer."""

    error: ErrorDetail


class FieldError(ResponseModel):
    field: str = Field(description='Path of the invalid value, e.g. "device_info.os".')
    code: str = Field(
        description='Why it is invalid, e.g. "missing", "extra_forbidden"; text PostgreSQL '
        'cannot store is "nul_character" or "unpaired_surrogate" (never echoed back), and '
        'date-times whose UTC instant leaves years 1-9999 are "datetime_out_of_range".'
    )
    message: str


class ScreenInfo(StrictModel):
    width_px: int = Field(ge=1, le=32768)
    height_px: int = Field(ge=1, le=32768)
    orientation: Literal["landscape", "portrait"] | None = None


class DeviceInfo(StrictModel):
    """What the player knows about itself; stored as the device's `device_info`."""

    model: str | None = Field(default=None, max_length=200)
    manufacturer: str | None = Field(default=None, max_length=200)
    serial_number: str | None = Field(default=None, max_length=200)
    os: str | None = Field(default=None, max_length=100)
    os_version: str | None = Field(default=None, max_length=100)
    player_version: str | None = Field(
        default=None, max_length=64, description="Also stored as the device's player_version."
    )
    mac_address: str | None = Field(default=None, max_length=64)
    timezone: str | None = Field(default=None, max_length=64, description="IANA zone name.")
    storage_total_bytes: int | None = Field(default=None, ge=0, le=INT64_MAX)
    screen: ScreenInfo | None = None

    def stored(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


class DeviceTokens(ResponseModel):
    """Issued by a successful claim or refresh."""

    device_id: uuid.UUID
    device_token: str = Field(description="Access JWT: send as `Authorization: Bearer <it>`.")
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    expires_in: int = Field(description="Seconds until `device_token` expires.")
    refresh_token: str = Field(
        description="Single-use: each refresh returns a new one. Reusing a spent one "
        "revokes every token of the device."
    )
