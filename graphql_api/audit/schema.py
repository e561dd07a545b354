"""The audit log query. Entries about console accounts and sign-ins are listed for every
reader, but their target and contents only for roles that manage users
(`core.audit.queries.details_visible`); others get them null, with `redacted` true."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row
from strawberry.scalars import JSON

from core.audit.queries import AuditFilter, audit_query, details_visible
from core.db.enums import ActorType
from core.db.tables import audit_log
from core.kernel.actor import Actor, Permission
from graphql_api.context import AppInfo
from graphql_api.permissions import CanRead
from graphql_api.relay import Connection, Ordering, PageArgs, SortKey, paginate
from graphql_api.scalars import BigInt

strawberry.enum(ActorType, name="ActorType", description="Who made a change.")

AUDIT_NEWEST_FIRST = Ordering(
    name="audit_log.id-desc", keys=(SortKey.integer(audit_log.c.id, "id"),), descending=True
)


@strawberry.type(description="One audited action, written in the same transaction as it.")
class AuditEntry:
    id: BigInt
    actor_type: ActorType
    actor_user_id: uuid.UUID | None
    actor_email: str | None
    actor_device_id: uuid.UUID | None
    action: str = strawberry.field(description="e.g. store.update, device.assign, auth.login.")
    target_type: str
    target_id: str | None
    created_at: datetime
    details: JSON | None = strawberry.field(
        description="Context of the action besides before/after; null when redacted."
    )
    before: JSON | None
    after: JSON | None
    redacted: bool = strawberry.field(
        description="True when targetId, details, before and after are hidden from your role "
        "(user.* and auth.* entries need the manage_users permission)."
    )
    _client_ip: strawberry.Private[str | None]

    @strawberry.field(description="The actor's address; only visible to admins.")
    def client_ip(self, info: AppInfo) -> str | None:
        actor = info.context.require_actor()
        return self._client_ip if actor.can(Permission.MANAGE_USERS) else None

    @classmethod
    def from_row(cls, row: Row[Any], reader: Actor) -> AuditEntry:
        visible = details_visible(reader, row.action)
        details: dict[str, Any] | None = dict(row.details_json or {}) if visible else None
        before = after = None
        if details is not None:
            before, after = details.pop("before", None), details.pop("after", None)
        return cls(
            id=row.id,
            actor_type=ActorType(row.actor_type),
            actor_user_id=row.actor_user_id,
            actor_email=row.actor_email,
            actor_device_id=row.actor_device_id,
            action=row.action,
            target_type=row.target_type,
            target_id=row.target_id if visible else None,
            created_at=row.created_at,
            details=None if details is None else JSON(details),
            before=before,
            after=after,
            redacted=not visible,
            _client_ip=row.client_ip,
        )


@strawberry.input
class AuditLogFilter:
    actor_user_id: uuid.UUID | None = None
    actor_type: ActorType | None = None
    target_type: str | None = strawberry.field(
        default=None, description="e.g. store, group, device, user."
    )
    target_id: str | None = None
    action: str | None = strawberry.field(
        default=None, description='Exact ("store.update") or a prefix ending in "." ("store.").'
    )
    since: datetime | None = strawberry.field(default=None, description="Inclusive.")
    until: datetime | None = strawberry.field(default=None, description="Exclusive.")


@strawberry.type
class AuditQuery:
    @strawberry.field(permission_classes=[CanRead], description="Newest first.")
    async def audit_log(
        self,
        info: AppInfo,
        filter: AuditLogFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[AuditEntry]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or AuditLogFilter()
        stmt = audit_query(
            AuditFilter(
                actor_user_id=f.actor_user_id,
                actor_type=f.actor_type,
                target_type=f.target_type,
                target_id=f.target_id,
                action=f.action,
                since=f.since,
                until=f.until,
            )
        )
        reader = info.context.require_actor()
        return await paginate(
            info.context,
            stmt,
            AUDIT_NEWEST_FIRST,
            page,
            lambda row: AuditEntry.from_row(row, reader),
        )
