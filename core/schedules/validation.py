"""Schedule input checks: every problem at once, with a precise field path each.

Rules and timezones are judged by the scheduling engine's own validators
(`core.scheduling.validation`), so the console can never save rules the engine would read
differently; their paths (e.g. `rules.dayparts[0].start`) are passed through unchanged.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from core.db.enums import DeviceStatus, TargetType
from core.db.rows import get_by_id
from core.db.tables import campaigns, device_groups, devices, playlists
from core.errors import ValidationFailed
from core.schedules.models import ScheduleInput
from core.scheduling.validation import parse_rules
from core.timezones import validate_timezone
from core.validation import NAME_MAX_CHARS, FieldErrors

PRIORITY_MIN = -1000
PRIORITY_MAX = 1000


def validated_values(data: ScheduleInput) -> dict[str, Any]:
    """Column values for a valid input, or ValidationFailed listing every field error."""
    errors = FieldErrors()
    name = data.name.strip()
    if len(name) > NAME_MAX_CHARS:
        errors.add("name", "too_long", f"name is longer than {NAME_MAX_CHARS} chars")
    target_type: TargetType | None = None
    try:
        target_type = TargetType(data.target_type.strip().upper())
    except ValueError:
        errors.add("targetType", "invalid_choice", "targetType must be DEVICE or GROUP")
    if not PRIORITY_MIN <= data.priority <= PRIORITY_MAX:
        errors.add("priority", "out_of_range", f"priority must be {PRIORITY_MIN}..{PRIORITY_MAX}")
    timezone = None
    if data.timezone is not None and data.timezone.strip():
        try:
            timezone = validate_timezone(data.timezone.strip(), field="timezone")
        except ValidationFailed as exc:
            errors.extend(exc.errors)
    rules: dict[str, Any] = {}
    try:
        rules = parse_rules(data.rules, field="rules").to_json()
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    if data.valid_from and data.valid_to and data.valid_to < data.valid_from:
        errors.add("validTo", "invalid_date_range", "validTo is before validFrom")
    errors.raise_if_any()
    assert target_type is not None
    return {
        "name": name,
        "target_type": target_type.value,
        "target_id": data.target_id,
        "playlist_id": data.playlist_id,
        "campaign_id": data.campaign_id,
        "timezone": timezone,
        "priority": data.priority,
        "rules_json": rules,
        "valid_from": data.valid_from,
        "valid_to": data.valid_to,
        "enabled": data.enabled,
    }


async def check_references(conn: AsyncConnection, values: dict[str, Any]) -> None:
    """The target, playlist and campaign must exist (object-level checks on every id sent)."""
    target_id: uuid.UUID = values["target_id"]
    if values["target_type"] == TargetType.DEVICE.value:
        device = await get_by_id(
            conn, devices, target_id, what="device", field="targetId", columns=[devices.c.status]
        )
        if device.status == DeviceStatus.DECOMMISSIONED.value:
            message = "the device is decommissioned"
            raise ValidationFailed(
                message,
                field="targetId",
                errors=[{"field": "targetId", "code": "decommissioned", "message": message}],
            )
    else:
        await get_by_id(
            conn,
            device_groups,
            target_id,
            what="device group",
            field="targetId",
            columns=[device_groups.c.id],
        )
    await get_by_id(
        conn,
        playlists,
        values["playlist_id"],
        what="playlist",
        field="playlistId",
        columns=[playlists.c.id],
    )
    if values["campaign_id"] is not None:
        await get_by_id(
            conn,
            campaigns,
            values["campaign_id"],
            what="campaign",
            field="campaignId",
            columns=[campaigns.c.id],
        )
