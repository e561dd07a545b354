"""GraphQL types of console accounts and sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.engine import Row

from core.db.enums import Role
from core.db.tables import users
from core.identity.sessions import Session
from graphql_api.context import AppInfo
from graphql_api.copying import copy_fields
from graphql_api.loaders import RowByIdLoader

strawberry.enum(
    Role,
    name="Role",
    description="ADMIN: everything; OPERATOR: fleet and content; VIEWER: read only.",
)


class UserByIdLoader(RowByIdLoader):
    table = users


@strawberry.type(description="A console account.")
class User:
    id: uuid.UUID
    email: str
    role: Role
    disabled: bool
    last_login_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Row[Any]) -> User:
        return copy_fields(cls, row, role=Role(row.role))


@strawberry.type(description="A console session: send `accessToken` as `Authorization: Bearer`.")
class AuthPayload:
    access_token: str
    access_token_expires_at: datetime
    refresh_token: str = strawberry.field(
        description="Single use: `refreshToken` returns a new one. Reusing a spent one ends "
        "the session."
    )
    refresh_token_expires_at: datetime
    user_id: uuid.UUID
    role: Role

    @strawberry.field(description="The signed-in user.")
    async def user(self, info: AppInfo) -> User:
        row = await info.context.loaders.get(UserByIdLoader).load(self.user_id)
        assert row is not None  # the session was just created for this user
        return User.from_row(row)

    @classmethod
    def from_session(cls, session: Session) -> AuthPayload:
        return cls(
            access_token=session.access_token,
            access_token_expires_at=session.access_expires_at,
            refresh_token=session.refresh_token,
            refresh_token_expires_at=session.refresh_expires_at,
            user_id=session.user_id,
            role=session.role,
        )


@strawberry.type
class UserSuccess:
    user: User


@strawberry.type
class LogoutSuccess:
    ok: bool = True


@strawberry.input
class CreateUserInput:
    email: str
    password: str
    role: Role


@strawberry.input
class UserFilter:
    role: Role | None = None
    disabled: bool | None = None
    search: str | None = strawberry.field(default=None, description="Part of the email.")
