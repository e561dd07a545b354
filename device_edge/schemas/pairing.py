"""Pairing and token requests and answers."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from device_edge.schemas.common import DeviceInfo, ResponseModel
from device_edge.validation import StrictModel


class CreateClaimRequest(StrictModel):
    device_info: DeviceInfo | None = None


class ClaimCreated(ResponseModel):
    claim_code: str = Field(
        description="8 characters of BCDFGHJKLMNPQRSTVWXZ; accepted in any case, dashes ignored."
    )
    claim_code_display: str = Field(description='The code as a screen shows it: "XXXX-XXXX".')
    device_code: str = Field(description="Secret known only to this player; never show it.")
    expires_at: datetime
    expires_in: int = Field(description="Seconds until the claim expires.")
    interval: int = Field(description="Minimum seconds between two polls.")


class ClaimRequest(StrictModel):
    claim_code: str = Field(min_length=1, max_length=32)
    device_code: str | None = Field(
        default=None,
        min_length=1,
        max_length=256,
        description="Screen flow only: the secret from create-claim. Omit for installer codes.",
    )
    device_info: DeviceInfo | None = None


class RefreshRequest(StrictModel):
    refresh_token: str = Field(min_length=1, max_length=1024)
