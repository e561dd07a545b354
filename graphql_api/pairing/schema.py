"""Pairing queries and mutations; the rules live in `core.pairing.console`."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

import strawberry

from core.db.enums import ClaimStatus
from core.errors import ValidationFailed
from core.pairing import console
from graphql_api.context import AppInfo
from graphql_api.errors import ConflictError, NotFoundError, PermissionDeniedError, ValidationError
from graphql_api.pairing.types import DeviceClaim, DeviceClaimsSuccess, DeviceClaimSuccess
from graphql_api.permissions import CanManageFleet

DeviceClaimResult = Annotated[
    DeviceClaimSuccess | ValidationError | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("DeviceClaimResult"),
]
CreateDeviceClaimsResult = Annotated[
    DeviceClaimsSuccess | ValidationError | NotFoundError | PermissionDeniedError,
    strawberry.union("CreateDeviceClaimsResult"),
]


def _names(names: list[str] | None, count: int | None) -> list[str | None]:
    """Either names (one claim each) or a count of unnamed claims; both must agree."""
    if names is not None:
        if count is not None and count != len(names):
            raise ValidationFailed(
                "count must match the number of names",
                field="count",
                errors=[{"field": "count", "code": "invalid", "message": "count != len(names)"}],
            )
        return list(names)
    if count is None:
        raise ValidationFailed(
            "give names or a count",
            field="count",
            errors=[{"field": "count", "code": "required", "message": "names or count"}],
        )
    if not 1 <= count <= console.MAX_CLAIMS_PER_BATCH:
        raise ValidationFailed(
            f"count must be between 1 and {console.MAX_CLAIMS_PER_BATCH}",
            field="count",
            errors=[{"field": "count", "code": "out_of_range", "message": "out of range"}],
        )
    return [None] * count


@strawberry.type
class PairingQuery:
    @strawberry.field(
        permission_classes=[CanManageFleet],
        description="Claims, newest first. By default unused expired ones are left out.",
    )
    async def device_claims(
        self,
        info: AppInfo,
        status: ClaimStatus | None = None,
        include_expired: bool = False,
        limit: int = 100,
    ) -> list[DeviceClaim]:
        views = await console.list_claims(
            info.context.services,
            info.context.require_actor(),
            status=status,
            include_expired=include_expired,
            limit=limit,
        )
        return [DeviceClaim.from_view(view) for view in views]


@strawberry.type
class PairingMutation:
    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Approve a code shown on a player's screen, choosing where it goes; the "
        "player's next poll receives its tokens.",
    )
    async def approve_device_claim(
        self,
        info: AppInfo,
        claim_code: str,
        store_id: uuid.UUID,
        group_id: uuid.UUID,
        name: str | None = None,
    ) -> DeviceClaimResult:
        view = await console.approve_claim(
            info.context.services,
            info.context.require_actor(),
            claim_code=claim_code,
            store_id=store_id,
            group_id=group_id,
            name=name,
        )
        return DeviceClaimSuccess(claim=DeviceClaim.from_view(view))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Deny a screen code, or withdraw an unused installer code.",
    )
    async def deny_device_claim(self, info: AppInfo, claim_code: str) -> DeviceClaimResult:
        view = await console.deny_claim(
            info.context.services, info.context.require_actor(), claim_code=claim_code
        )
        return DeviceClaimSuccess(claim=DeviceClaim.from_view(view))

    @strawberry.mutation(
        permission_classes=[CanManageFleet],
        description="Installer codes pre-assigned to a store and group: one per name, or "
        "`count` unnamed ones (at most 500), valid for `expiresInHours`.",
    )
    async def create_device_claims(
        self,
        info: AppInfo,
        store_id: uuid.UUID,
        group_id: uuid.UUID,
        names: list[str] | None = None,
        count: int | None = None,
        expires_in_hours: int = 72,
    ) -> CreateDeviceClaimsResult:
        services = info.context.services
        wanted = _names(names, count)
        views = await console.create_console_claims(
            services,
            info.context.require_actor(),
            store_id=store_id,
            group_id=group_id,
            names=wanted,
            ttl=timedelta(hours=expires_in_hours),
            interval_s=services.settings.claim_poll_interval_s,
        )
        return DeviceClaimsSuccess(claims=[DeviceClaim.from_view(view) for view in views])
