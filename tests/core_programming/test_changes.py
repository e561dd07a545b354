"""The plan-inputs hook publishes only after COMMIT, never for rolled-back work."""

from __future__ import annotations

import uuid

import pytest

from core.bootstrap import Services
from core.db.enums import PlanChangeKind
from core.plans.changes import notify_plan_inputs_changed, plan_inputs_channel
from tests.core_programming.conftest import PlanInputsListener


async def test_published_after_commit_with_sorted_unique_ids(
    services: Services, plan_inputs: PlanInputsListener
) -> None:
    a, b = sorted([uuid.uuid4(), uuid.uuid4()], key=str)
    async with services.uow() as uow:
        await notify_plan_inputs_changed(uow, services, PlanChangeKind.PLAYLIST, [b, a, b])
        assert await plan_inputs.drain(0.1) == []  # not before COMMIT
        await uow.commit()
    assert await plan_inputs.drain() == [{"kind": "playlist", "ids": [str(a), str(b)]}]
    assert (
        plan_inputs_channel(services.keys)
        == f"{services.settings.redis_key_prefix}events:plan-inputs"
    )


async def test_nothing_published_on_rollback(
    services: Services, plan_inputs: PlanInputsListener
) -> None:
    with pytest.raises(RuntimeError):
        async with services.uow() as uow:
            await notify_plan_inputs_changed(uow, services, PlanChangeKind.SCHEDULE, [uuid.uuid4()])
            raise RuntimeError("use case failed")
    async with services.uow() as uow:  # never committed
        await notify_plan_inputs_changed(uow, services, PlanChangeKind.SCHEDULE, [uuid.uuid4()])
    assert await plan_inputs.drain() == []
