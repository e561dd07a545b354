"""Convergence details of a device: which content of its desired plan it still lacks, and
which downloads it reported failed (docs/convergence.md).

The plan's content keys (`playout_plans.content_versions`) and the player's report
(`device_content_reports`) come through one per-request DataLoader, so a page of devices
costs one query for all of them; the content rows behind the keys come through the content
library's loader, likewise batched.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import strawberry
from strawberry.dataloader import DataLoader

from core.bootstrap import Services
from core.db.tables import device_content_reports, devices, playout_plans
from core.devices.sync_state import parse_content_key
from graphql_api.content.loaders import ContentByIdLoader
from graphql_api.content.types import Content
from graphql_api.context import AppInfo


@dataclass(frozen=True)
class ContentReport:
    """A device's stored plan keys (None: no plan yet) and its player's latest report
    (None: never reported)."""

    required: tuple[str, ...] | None = None
    cached: Mapping[str, Any] | None = None
    failed: Mapping[str, Any] | None = None


class ContentReportByDeviceIdLoader(DataLoader[uuid.UUID, ContentReport]):
    """Each device's plan keys and content report, one query per batch."""

    def __init__(self, services: Services) -> None:
        self._services = services
        super().__init__(load_fn=self._load)

    async def _load(self, ids: list[uuid.UUID]) -> Sequence[ContentReport]:
        stmt = (
            sa.select(
                devices.c.id,
                playout_plans.c.content_versions,
                device_content_reports.c.cached_content,
                device_content_reports.c.failed_content,
            )
            .select_from(
                devices.outerjoin(
                    playout_plans, playout_plans.c.device_id == devices.c.id
                ).outerjoin(
                    device_content_reports, device_content_reports.c.device_id == devices.c.id
                )
            )
            .where(devices.c.id.in_(set(ids)))
        )
        async with self._services.engine.connect() as conn:
            found = {
                row.id: ContentReport(
                    required=None if row.content_versions is None else tuple(row.content_versions),
                    cached=row.cached_content,
                    failed=row.failed_content,
                )
                for row in await conn.execute(stmt)
            }
        return [found.get(device_id, ContentReport()) for device_id in ids]


async def _content(info: AppInfo, content_id: uuid.UUID) -> Content | None:
    row = await info.context.loaders.get(ContentByIdLoader).load(content_id)
    return Content.from_row(row) if row is not None else None


@strawberry.type(description="A content version as plan items name it: `contentId` and `version`.")
class ContentVersionRef:
    content_id: uuid.UUID
    version: int = strawberry.field(
        description="The version number (ContentVersion.versionNumber)."
    )

    @strawberry.field
    async def content(self, info: AppInfo) -> Content | None:
        return await _content(info, self.content_id)


@strawberry.type(description="A content version whose download the player reported failed.")
class ContentVersionFailure:
    content_id: uuid.UUID
    version: int = strawberry.field(
        description="The version number (ContentVersion.versionNumber)."
    )
    error: str = strawberry.field(description="What the player said went wrong.")
    at: datetime | None = strawberry.field(description="When it failed (player clock).")
    needed_by_plan: bool = strawberry.field(
        description="The desired plan needs this version: it makes the device FAILED."
    )

    @strawberry.field
    async def content(self, info: AppInfo) -> Content | None:
        return await _content(info, self.content_id)


async def _report(info: AppInfo, device_id: uuid.UUID) -> ContentReport:
    return await info.context.loaders.get(ContentReportByDeviceIdLoader).load(device_id)


async def missing_versions(info: AppInfo, device_id: uuid.UUID) -> list[ContentVersionRef] | None:
    """The desired plan's versions the player has not reported cached, in plan key order;
    None when the player does not report its cache (nothing can be said)."""
    report = await _report(info, device_id)
    if report.cached is None:
        return None
    missing: list[ContentVersionRef] = []
    for key in report.required or ():
        parsed = parse_content_key(key)
        if key not in report.cached and parsed is not None:
            missing.append(ContentVersionRef(content_id=parsed[0], version=parsed[1]))
    return missing


def _instant(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


async def failed_versions(info: AppInfo, device_id: uuid.UUID) -> list[ContentVersionFailure]:
    """What the player's latest report of failures says, each marked when the desired plan
    needs it."""
    report = await _report(info, device_id)
    if not report.failed:
        return []
    needed = set(report.required or ())
    failures: list[ContentVersionFailure] = []
    for key, detail in sorted(report.failed.items()):
        parsed = parse_content_key(key)
        if parsed is None or not isinstance(detail, Mapping):
            continue
        failures.append(
            ContentVersionFailure(
                content_id=parsed[0],
                version=parsed[1],
                error=str(detail.get("error") or ""),
                at=_instant(detail.get("at")),
                needed_by_plan=key in needed,
            )
        )
    return failures
