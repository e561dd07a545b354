"""Frequency caps carried into the plan for the player to enforce.

The server cannot count plays ahead of time, so it only tells the player which counters
exist and which items each counter gates. A cap's id is a hash of what it counts, so two
schedules declaring the same cap share one counter, and the id is stable across plan
regenerations (the player keeps its counters when the plan changes).

Counting rules (the player's side, docs/scheduling.md):
- ITEM: plays of the item's content id, on this device, in the trailing `per_seconds`;
  a cap without `content_id` gates every item of its schedule, each counted separately.
- CAMPAIGN with `campaign_id`: all plays of that campaign; gates every item of the
  campaign in the plan, whichever schedule brought it.
- CAMPAIGN with `schedule_id` (its schedule has no campaign): all plays of that schedule.
An item whose listed caps are exhausted is skipped until they free up.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import orjson

from core.scheduling.inputs import ScheduleInput
from core.scheduling.rules import FrequencyCap


@dataclass(slots=True)
class PlanCap:
    id: str
    scope: str
    max_plays: int
    per_seconds: int
    content_id: UUID | None = None
    campaign_id: UUID | None = None
    schedule_id: UUID | None = None
    declared_by: set[UUID] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scope": self.scope,
            "max_plays": self.max_plays,
            "per_seconds": self.per_seconds,
            "content_id": None if self.content_id is None else str(self.content_id),
            "campaign_id": None if self.campaign_id is None else str(self.campaign_id),
            "schedule_id": None if self.schedule_id is None else str(self.schedule_id),
            "declared_by": sorted(str(s) for s in self.declared_by),
        }


def _cap_id(key: tuple[object, ...]) -> str:
    blob = orjson.dumps([None if k is None else str(k) for k in key])
    return "cap-" + hashlib.sha256(blob).hexdigest()[:12]


class PlanCaps:
    """The caps of the schedules that own time in a plan, indexed for item lookup."""

    def __init__(self) -> None:
        self._caps: dict[str, PlanCap] = {}
        self._item_caps: dict[UUID, list[PlanCap]] = defaultdict(list)
        self._schedule_caps: dict[UUID, list[PlanCap]] = defaultdict(list)
        self._campaign_caps: dict[UUID, list[PlanCap]] = defaultdict(list)
        self._used: set[str] = set()

    @classmethod
    def collect(cls, owners: Iterable[tuple[ScheduleInput, UUID | None]]) -> PlanCaps:
        """`owners`: each schedule owning time in the plan, with its effective campaign."""
        caps = cls()
        for schedule, campaign in sorted(owners, key=lambda o: str(o[0].id)):
            for rule in schedule.rules.frequency_caps:
                if rule.scope == "ITEM":
                    cap = caps._add(schedule, rule, "ITEM", rule.content_id)
                    cap.content_id = rule.content_id
                    index = caps._item_caps
                    owner = schedule.id
                elif campaign is not None:
                    cap = caps._add(schedule, rule, "CAMPAIGN", campaign)
                    cap.campaign_id = campaign
                    index, owner = caps._campaign_caps, campaign
                else:
                    cap = caps._add(schedule, rule, "SCHEDULE", schedule.id)
                    cap.schedule_id = schedule.id
                    index, owner = caps._schedule_caps, schedule.id
                if cap not in index[owner]:
                    index[owner].append(cap)
        return caps

    def _add(
        self, schedule: ScheduleInput, rule: FrequencyCap, counts: str, subject: UUID | None
    ) -> PlanCap:
        """The cap counting `counts` of `subject` under this limit, created on first use."""
        cap_id = _cap_id((counts, subject, rule.max_plays, rule.per_seconds))
        cap = self._caps.get(cap_id)
        if cap is None:
            cap = PlanCap(cap_id, rule.scope, rule.max_plays, rule.per_seconds)
            self._caps[cap_id] = cap
        cap.declared_by.add(schedule.id)
        return cap

    def cap_ids_for(
        self, schedule: ScheduleInput | None, campaign: UUID | None, content_id: UUID
    ) -> list[str]:
        """The caps gating one item, sorted; records them as used."""
        found: set[str] = set()
        if schedule is not None:
            found.update(
                c.id
                for c in self._item_caps.get(schedule.id, ())
                if c.content_id is None or c.content_id == content_id
            )
            found.update(c.id for c in self._schedule_caps.get(schedule.id, ()))
        if campaign is not None:
            found.update(c.id for c in self._campaign_caps.get(campaign, ()))
        self._used.update(found)
        return sorted(found)

    def to_json(self) -> list[dict[str, Any]]:
        """Only caps that gate at least one item of the plan, by id."""
        return [self._caps[cap_id].to_json() for cap_id in sorted(self._used)]
