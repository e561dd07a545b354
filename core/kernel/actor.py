"""Who is acting: passed into every service so authorization and the audit log agree.

Shared kernel: identity decides who an actor is, audit records them, every service checks
their permissions, so this lives below all of them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum

from core.db.enums import ActorType, Role
from core.errors import PermissionDenied


class Permission(StrEnum):
    READ = "read"
    # devices, stores, groups, content, playlists, campaigns, schedules
    MANAGE_FLEET = "manage_fleet"
    MANAGE_USERS = "manage_users"
    OPERATE_INCIDENTS = "operate_incidents"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.OPERATOR: frozenset(
        {Permission.READ, Permission.MANAGE_FLEET, Permission.OPERATE_INCIDENTS}
    ),
    Role.VIEWER: frozenset({Permission.READ}),
}


@dataclass(frozen=True)
class Actor:
    actor_type: ActorType
    user_id: uuid.UUID | None = None
    role: Role | None = None
    device_id: uuid.UUID | None = None
    client_ip: str | None = None

    @classmethod
    def user(cls, user_id: uuid.UUID, role: Role, client_ip: str | None = None) -> Actor:
        return cls(ActorType.USER, user_id=user_id, role=role, client_ip=client_ip)

    @classmethod
    def device(cls, device_id: uuid.UUID, client_ip: str | None = None) -> Actor:
        return cls(ActorType.DEVICE, device_id=device_id, client_ip=client_ip)

    @classmethod
    def system(cls) -> Actor:
        return cls(ActorType.SYSTEM)

    @classmethod
    def anonymous(cls, client_ip: str | None = None) -> Actor:
        return cls(ActorType.ANONYMOUS, client_ip=client_ip)

    def can(self, permission: Permission) -> bool:
        if self.actor_type is ActorType.SYSTEM:
            return True
        if self.role is None:
            return False
        return permission in ROLE_PERMISSIONS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise PermissionDenied(f"this action needs the {permission.value} permission")
