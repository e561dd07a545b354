"""Console queries about plans: the stored plan, a preview over any range, and `explain`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry

from core.errors import ValidationFailed
from core.plans import console
from graphql_api.context import AppInfo
from graphql_api.permissions import CanRead
from graphql_api.plans.types import DevicePlan, PlanExplanation, PlanPreview


def _one_target(device_id: uuid.UUID | None, group_id: uuid.UUID | None) -> None:
    if (device_id is None) == (group_id is None):
        message = "give exactly one of deviceId and groupId"
        raise ValidationFailed(
            message,
            field="deviceId",
            errors=[{"field": "deviceId", "code": "invalid", "message": message}],
        )


@strawberry.type
class PlanQuery:
    @strawberry.field(
        permission_classes=[CanRead],
        description="The plan stored for a device (what the edge serves); null if it has none "
        "yet (one is generated when the device first asks).",
    )
    async def device_plan(self, info: AppInfo, device_id: uuid.UUID) -> DevicePlan | None:
        stored = await console.device_plan(info.context.services, device_id)
        return DevicePlan.from_stored(stored) if stored is not None else None

    @strawberry.field(
        permission_classes=[CanRead],
        description="What will play over [from, to) (at most 31 days), computed on the fly. "
        "For a device: everything that targets it. For a group: its schedules and default "
        "playlist, one preview per store timezone among its devices (or `timezone`).",
    )
    async def plan_preview(
        self,
        info: AppInfo,
        from_: Annotated[datetime, strawberry.argument(name="from")],
        to: datetime,
        device_id: uuid.UUID | None = None,
        group_id: uuid.UUID | None = None,
        timezone: str | None = None,
    ) -> list[PlanPreview]:
        _one_target(device_id, group_id)
        services = info.context.services
        if device_id is not None:
            preview = await console.preview_device(services, device_id, from_, to)
            return [PlanPreview.from_preview(preview)]
        assert group_id is not None
        previews = await console.preview_group(services, group_id, from_, to, timezone=timezone)
        return [PlanPreview.from_preview(p) for p in previews]

    @strawberry.field(
        permission_classes=[CanRead],
        description="Every schedule targeting the device or its group at `at`, and why it "
        "won or lost: priority, target specificity, daypart, exclusion, dates, campaign.",
    )
    async def explain_plan(
        self, info: AppInfo, device_id: uuid.UUID, at: datetime
    ) -> PlanExplanation:
        explanation = await console.explain_device(info.context.services, device_id, at)
        return PlanExplanation.from_explanation(explanation)
