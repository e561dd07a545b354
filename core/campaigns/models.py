"""Campaign values returned by the campaign services."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any


@dataclass(frozen=True)
class Campaign:
    id: uuid.UUID
    brand_name: str
    name: str
    start_date: date
    end_date: date
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> Campaign:
        return cls(
            id=row.id,
            brand_name=row.brand_name,
            name=row.name,
            start_date=row.start_date,
            end_date=row.end_date,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@dataclass(frozen=True)
class CampaignInput:
    brand_name: str
    name: str
    start_date: date
    end_date: date


@dataclass(frozen=True)
class CampaignFilter:
    search: str | None = None
    active_on: date | None = None
