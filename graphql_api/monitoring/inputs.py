"""GraphQL inputs of the monitoring domain."""

from __future__ import annotations

import uuid
from datetime import datetime

import strawberry

from core.errors import ValidationFailed
from core.monitoring.models import IncidentFilter as CoreIncidentFilter
from graphql_api.monitoring.enums import IncidentStatus, IncidentType


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        message = "give a time zone offset, e.g. 2026-03-02T10:00:00Z"
        raise ValidationFailed(
            message,
            field=field,
            errors=[{"field": field, "code": "invalid_format", "message": message}],
        )
    return value


@strawberry.input(description="Every given condition must hold.")
class IncidentFilter:
    resolved: bool | None = strawberry.field(
        default=None,
        description="true: only resolved; false: only unresolved (OPEN or ACKNOWLEDGED).",
    )
    status: IncidentStatus | None = None
    type: IncidentType | None = None
    store_id: uuid.UUID | None = None
    device_id: uuid.UUID | None = None
    created_from: datetime | None = strawberry.field(
        default=None, description="Opened at or after this instant."
    )
    created_to: datetime | None = strawberry.field(
        default=None, description="Opened before this instant."
    )

    def to_core(self) -> CoreIncidentFilter:
        return CoreIncidentFilter(
            resolved=self.resolved,
            status=self.status,
            type=self.type,
            store_id=self.store_id,
            device_id=self.device_id,
            created_from=_aware(self.created_from, "filter.createdFrom"),
            created_to=_aware(self.created_to, "filter.createdTo"),
        )
