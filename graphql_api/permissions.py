"""Permission classes for fields: `permission_classes=[CanManageFleet]`.

A missing or refused token raises `Unauthenticated` (top-level error, code UNAUTHENTICATED,
INVALID_TOKEN or TOKEN_EXPIRED). A valid token whose role lacks the permission raises
`PermissionDenied`: a typed `PermissionDeniedError` where the field's union includes it (all
mutations), a top-level FORBIDDEN error elsewhere.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from core.errors import PermissionDenied
from core.kernel.actor import Permission
from graphql_api.context import AppInfo


class IsAuthenticated(BasePermission):
    message = "authentication required"

    def has_permission(self, source: Any, info: AppInfo, **kwargs: Any) -> bool:
        info.context.require_actor()
        return True


class _HasPermission(IsAuthenticated):
    permission: ClassVar[Permission]

    def has_permission(self, source: Any, info: AppInfo, **kwargs: Any) -> bool:
        return info.context.require_actor().can(self.permission)

    def on_unauthorized(self) -> None:
        raise PermissionDenied(f"this action needs the {self.permission.value} permission")


class CanRead(_HasPermission):
    permission = Permission.READ
    message = "this needs read access"


class CanManageFleet(_HasPermission):
    """Devices, stores, groups, content, playlists, campaigns, schedules (ADMIN, OPERATOR)."""

    permission = Permission.MANAGE_FLEET
    message = "this needs the manage_fleet permission"


class CanManageUsers(_HasPermission):
    permission = Permission.MANAGE_USERS
    message = "this needs the manage_users permission"


class CanOperateIncidents(_HasPermission):
    permission = Permission.OPERATE_INCIDENTS
    message = "this needs the operate_incidents permission"
