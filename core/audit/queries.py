"""Reading the audit log: filters by actor, target, action and time range.

Rows are listed newest first by their identity `id`, which follows insertion order, so a
keyset on `id` pages through a log that keeps growing without skipping or repeating rows.

Every reader sees every row (who did what, when), but the contents of entries about console
accounts and sign-ins (`user.*`, `auth.*`: emails tried at login, roles, account states,
session families) are only for roles that manage users: `details_visible` decides it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from core.db.enums import ActorType
from core.db.tables import audit_log, users
from core.kernel.actor import Actor, Permission
from core.validation import FieldErrors

RESTRICTED_ACTION_PREFIXES = ("user.", "auth.")


def details_visible(actor: Actor, action: str) -> bool:
    """May `actor` read the target, before/after and details of an entry with `action`?"""
    return not action.startswith(RESTRICTED_ACTION_PREFIXES) or actor.can(Permission.MANAGE_USERS)


@dataclass(frozen=True)
class AuditFilter:
    actor_user_id: uuid.UUID | None = None
    actor_type: ActorType | None = None
    target_type: str | None = None
    target_id: str | None = None
    # Exact action ("store.update"), or a prefix ending in "." ("store.") for a whole domain.
    action: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive

    def validate(self) -> None:
        errors = FieldErrors()
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                errors.add(name, "invalid", "give a timezone offset, e.g. 2026-03-02T10:00:00Z")
        if (
            self.since is not None
            and self.until is not None
            and self.since.tzinfo is not None
            and self.until.tzinfo is not None
            and self.since >= self.until
        ):
            errors.add("until", "invalid_date_range", "`until` must be after `since`")
        if self.target_id is not None and self.target_type is None:
            errors.add("target_type", "required", "a target id needs its target type")
        errors.raise_if_any("the audit filter is not valid")


def audit_query(f: AuditFilter) -> sa.Select[Any]:
    f.validate()
    stmt = sa.select(audit_log, users.c.email.label("actor_email")).outerjoin(
        users, users.c.id == audit_log.c.actor_user_id
    )
    if f.actor_user_id is not None:
        stmt = stmt.where(audit_log.c.actor_user_id == f.actor_user_id)
    if f.actor_type is not None:
        stmt = stmt.where(audit_log.c.actor_type == f.actor_type.value)
    if f.target_type is not None:
        stmt = stmt.where(audit_log.c.target_type == f.target_type)
    if f.target_id is not None:
        stmt = stmt.where(audit_log.c.target_id == f.target_id)
    if f.action:
        if f.action.endswith("."):
            stmt = stmt.where(audit_log.c.action.startswith(f.action, autoescape=True))
        else:
            stmt = stmt.where(audit_log.c.action == f.action)
    if f.since is not None:
        stmt = stmt.where(audit_log.c.created_at >= f.since)
    if f.until is not None:
        stmt = stmt.where(audit_log.c.created_at < f.until)
    return stmt
