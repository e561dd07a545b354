"""GraphQL views of plans, previews and explanations (built from the engine's plan JSON)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import strawberry
from strawberry.scalars import JSON

from core.db.enums import TargetType
from core.plans.console import Preview
from core.plans.service import StoredPlan
from core.scheduling import Explanation, Verdict
from graphql_api.context import AppInfo
from graphql_api.programming.loaders import ScheduleByIdLoader
from graphql_api.programming.types import FrequencyCapScope, Schedule, ScheduleFrequencyCap
from graphql_api.scalars import BigInt


def _instant(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)


@strawberry.type(description="One playable entry of a plan.")
class PlanEntry:
    content_id: uuid.UUID
    version: int
    url: str
    sha256: str
    bytes: BigInt
    mime: str
    duration_ms: int | None
    weight: int = strawberry.field(description="Share of voice when schedules are merged.")
    cap_ids: list[str] = strawberry.field(description="Frequency caps (see `caps`) gating it.")
    playlist_id: uuid.UUID
    schedule_id: uuid.UUID | None = strawberry.field(description="null: the default playlist.")
    campaign_id: uuid.UUID | None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> PlanEntry:
        return cls(
            content_id=uuid.UUID(raw["content_id"]),
            version=raw["version"],
            url=raw["url"],
            sha256=raw["sha256"],
            bytes=raw["bytes"],
            mime=raw["mime"],
            duration_ms=raw["duration_ms"],
            weight=raw["weight"],
            cap_ids=list(raw["caps"]),
            playlist_id=uuid.UUID(raw["playlist_id"]),
            schedule_id=_uuid(raw["schedule_id"]),
            campaign_id=_uuid(raw["campaign_id"]),
        )


@strawberry.type(description="[start, end) with one set of owners; `items` in play order.")
class PlanWindow:
    start: datetime
    end: datetime
    utc_offset_minutes: int
    fallback: bool = strawberry.field(description="True: the group's default playlist.")
    schedule_ids: list[uuid.UUID]
    playlist_ids: list[uuid.UUID]
    campaign_ids: list[uuid.UUID]
    items: list[PlanEntry]


@strawberry.type(description="A frequency cap the player enforces.")
class PlanCap:
    id: str
    scope: FrequencyCapScope
    max_plays: int
    per_seconds: int
    content_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    schedule_id: uuid.UUID | None
    declared_by: list[uuid.UUID]


@strawberry.type(description="A resolved plan: its windows, caps, and the raw plan JSON.")
class PlanBody:
    etag: str
    valid_from: datetime
    valid_to: datetime
    timezone: str
    windows: list[PlanWindow]
    caps: list[PlanCap]
    plan_json: JSON = strawberry.field(description="Exactly what the device downloads.")

    @classmethod
    def from_plan(cls, etag: str, plan: dict[str, Any]) -> PlanBody:
        entries = [PlanEntry.from_json(item) for item in plan["items"]]
        windows = [
            PlanWindow(
                start=_instant(w["start"]),
                end=_instant(w["end"]),
                utc_offset_minutes=w["utc_offset_minutes"],
                fallback=w["fallback"],
                schedule_ids=[uuid.UUID(s) for s in w["schedule_ids"]],
                playlist_ids=[uuid.UUID(p) for p in w["playlist_ids"]],
                campaign_ids=[uuid.UUID(c) for c in w["campaign_ids"]],
                items=[entries[i] for i in w["sequence"]],
            )
            for w in plan["windows"]
        ]
        caps = [
            PlanCap(
                id=c["id"],
                scope=FrequencyCapScope(c["scope"]),
                max_plays=c["max_plays"],
                per_seconds=c["per_seconds"],
                content_id=_uuid(c["content_id"]),
                campaign_id=_uuid(c["campaign_id"]),
                schedule_id=_uuid(c["schedule_id"]),
                declared_by=[uuid.UUID(s) for s in c["declared_by"]],
            )
            for c in plan["caps"]
        ]
        return cls(
            etag=etag,
            valid_from=_instant(plan["valid_from"]),
            valid_to=_instant(plan["valid_to"]),
            timezone=plan["timezone"],
            windows=windows,
            caps=caps,
            plan_json=JSON(plan),
        )


@strawberry.type(description="The plan stored for a device, as the edge serves it.")
class DevicePlan:
    device_id: uuid.UUID
    generated_at: datetime
    inputs_hash: str = strawberry.field(description="Devices with equal hashes share the plan.")
    plan: PlanBody

    @classmethod
    def from_stored(cls, stored: StoredPlan) -> DevicePlan:
        return cls(
            device_id=stored.device_id,
            generated_at=stored.generated_at,
            inputs_hash=stored.inputs_hash,
            plan=PlanBody.from_plan(stored.etag, stored.plan.plan),
        )


@strawberry.type(description="What would play over a range, computed now (never stored).")
class PlanPreview:
    timezone: str = strawberry.field(description="The store timezone it was resolved in.")
    device_count: int = strawberry.field(description="Devices this preview stands for.")
    plan: PlanBody

    @classmethod
    def from_preview(cls, preview: Preview) -> PlanPreview:
        return cls(
            timezone=preview.timezone,
            device_count=preview.device_count,
            plan=PlanBody.from_plan(preview.etag, preview.plan),
        )


@strawberry.enum(description="Why a candidate schedule plays at an instant, or does not.")
class PlanOutcome(Enum):
    WON = "won"
    MERGED = "merged"
    LOST_PRIORITY = "lost_priority"
    LOST_SPECIFICITY = "lost_specificity"
    OUTSIDE_DAYPART = "outside_daypart"
    EXCLUDED = "excluded"
    OUTSIDE_DATES = "outside_dates"
    OUTSIDE_CAMPAIGN = "outside_campaign"
    DISABLED = "disabled"
    EMPTY_PLAYLIST = "empty_playlist"


@strawberry.type(description="One candidate schedule's fate at the explained instant.")
class ScheduleVerdict:
    schedule_id: uuid.UUID
    playlist_id: uuid.UUID
    campaign_id: uuid.UUID | None
    target_type: TargetType
    priority: int
    timezone: str = strawberry.field(description="The zone its dayparts are read in.")
    local_time: datetime = strawberry.field(description="The instant in that zone.")
    outcome: PlanOutcome
    playing: bool
    detail: str
    against: list[uuid.UUID] = strawberry.field(
        description="The schedules it lost to, or merged with."
    )
    caps: list[ScheduleFrequencyCap]

    @strawberry.field(description="The schedule itself (null if deleted meanwhile).")
    async def schedule(self, info: AppInfo) -> Schedule | None:
        row = await info.context.loaders.get(ScheduleByIdLoader).load(self.schedule_id)
        return Schedule.from_row(row) if row is not None else None

    @classmethod
    def from_verdict(cls, verdict: Verdict) -> ScheduleVerdict:
        outcome = PlanOutcome(verdict.outcome.value)
        return cls(
            schedule_id=verdict.schedule_id,
            playlist_id=verdict.playlist_id,
            campaign_id=verdict.campaign_id,
            target_type=verdict.target_type,
            priority=verdict.priority,
            timezone=verdict.timezone,
            local_time=verdict.local_time,
            outcome=outcome,
            playing=outcome in (PlanOutcome.WON, PlanOutcome.MERGED),
            detail=verdict.detail,
            against=list(verdict.against),
            caps=[
                ScheduleFrequencyCap(
                    scope=FrequencyCapScope(cap.scope),
                    max_plays=cap.max_plays,
                    per_seconds=cap.per_seconds,
                    content_id=cap.content_id,
                )
                for cap in verdict.caps
            ],
        )


@strawberry.type(description="Every candidate schedule of a device at one instant, and why.")
class PlanExplanation:
    at: datetime
    playing: list[uuid.UUID] = strawberry.field(description="The winning schedules.")
    fallback_playlist_id: uuid.UUID | None = strawberry.field(
        description="Set when nothing wins and the group's default playlist plays."
    )
    verdicts: list[ScheduleVerdict]

    @classmethod
    def from_explanation(cls, explanation: Explanation) -> PlanExplanation:
        return cls(
            at=explanation.at,
            playing=list(explanation.playing),
            fallback_playlist_id=explanation.fallback_playlist_id,
            verdicts=[ScheduleVerdict.from_verdict(v) for v in explanation.verdicts],
        )
