"""Proof-of-play use cases own their rules, whatever edge calls them: the upload (size, quota,
one transaction) and the reports (authorization, limits)."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from core.bootstrap import Services
from core.db.enums import Role
from core.devices.heartbeat import DeviceNotActive
from core.errors import PermissionDenied, RateLimited, ValidationFailed
from core.kernel.actor import Actor
from core.proof_of_play.reports import (
    GroupBy,
    ReportFilter,
    export_report_csv,
    read_report,
)
from core.proof_of_play.uploads import record_device_plays, take_upload_quota

YEAR = ReportFilter(start=date(2026, 1, 1), end=date(2026, 12, 31))


async def test_reports_are_authorized_in_core(services: Services) -> None:
    device = Actor.device(uuid.uuid4())
    with pytest.raises(PermissionDenied):
        await read_report(services.engine, device, YEAR, [GroupBy.DAY])
    with pytest.raises(PermissionDenied):
        export_report_csv(services.engine, device, YEAR, [GroupBy.DAY])

    viewer = Actor.user(uuid.uuid4(), Role.VIEWER)
    assert (await read_report(services.engine, viewer, YEAR, [GroupBy.DAY])).rows == []
    with pytest.raises(ValidationFailed):
        await read_report(services.engine, viewer, YEAR, [GroupBy.DAY], limit=0)
    backwards = ReportFilter(start=date(2026, 2, 1), end=date(2026, 1, 1))
    with pytest.raises(ValidationFailed):
        export_report_csv(services.engine, viewer, backwards, [GroupBy.DAY])  # before streaming
    chunks = [c async for c in export_report_csv(services.engine, viewer, YEAR, [GroupBy.DAY])]
    assert chunks[0].startswith(b"day,")


async def test_an_upload_for_an_unknown_device_is_refused(services: Services) -> None:
    with pytest.raises(DeviceNotActive):
        await record_device_plays(services, uuid.uuid4(), [])


async def test_the_quota_is_taken_before_any_database_work(services: Services) -> None:
    device_id = uuid.uuid4()
    quota = services.settings.pop_device_events_per_minute
    await take_upload_quota(services, device_id, quota)
    with pytest.raises(RateLimited):
        # An unknown device: the quota refuses the batch before the device is even looked up.
        await record_device_plays(services, device_id, [{"event_id": "x"}])
