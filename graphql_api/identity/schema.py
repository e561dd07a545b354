"""Console authentication and user management."""

from __future__ import annotations

import uuid
from typing import Annotated

import strawberry

from core.db.enums import Role
from core.db.tables import users as users_table
from core.identity import sessions, users
from graphql_api.context import AppInfo
from graphql_api.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
    ValidationError,
)
from graphql_api.identity.types import (
    AuthPayload,
    CreateUserInput,
    LogoutSuccess,
    User,
    UserByIdLoader,
    UserFilter,
    UserSuccess,
)
from graphql_api.permissions import CanManageUsers, IsAuthenticated
from graphql_api.relay import Connection, Ordering, PageArgs, SortKey, paginate

# ValidationError: every mutation's union has one, for arguments refused by core.inputs
# (graphql_api/input_rule.py), e.g. a NUL character in an email or a token.
LoginResult = Annotated[
    AuthPayload | AuthenticationError | RateLimitedError | UnavailableError | ValidationError,
    strawberry.union("LoginResult"),
]
RefreshTokenResult = Annotated[
    AuthPayload | AuthenticationError | ValidationError, strawberry.union("RefreshTokenResult")
]
LogoutResult = Annotated[
    LogoutSuccess | PermissionDeniedError | ValidationError, strawberry.union("LogoutResult")
]
CreateUserResult = Annotated[
    UserSuccess | ValidationError | ConflictError | PermissionDeniedError,
    strawberry.union("CreateUserResult"),
]
UpdateUserResult = Annotated[
    UserSuccess | NotFoundError | ConflictError | PermissionDeniedError,
    strawberry.union("UpdateUserResult"),
]

USERS_BY_EMAIL = Ordering(
    name="users.email",
    keys=(SortKey.text(users_table.c.email, "email"), SortKey.uuid(users_table.c.id, "id")),
)


@strawberry.type
class IdentityQuery:
    @strawberry.field(permission_classes=[IsAuthenticated], description="The signed-in user.")
    async def me(self, info: AppInfo) -> User:
        actor = info.context.require_actor()
        assert actor.user_id is not None  # console tokens name a user; devices never get here
        row = await info.context.loaders.get(UserByIdLoader).load(actor.user_id)
        assert row is not None  # authenticate() just read it
        return User.from_row(row)

    @strawberry.field(permission_classes=[CanManageUsers])
    async def users(
        self,
        info: AppInfo,
        filter: UserFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[User]:
        page = PageArgs(first=first, after=after, last=last, before=before)
        f = filter or UserFilter()
        stmt = users.users_query(role=f.role, disabled=f.disabled, search=f.search)
        return await paginate(info.context, stmt, USERS_BY_EMAIL, page, User.from_row)

    @strawberry.field(permission_classes=[CanManageUsers])
    async def user(self, info: AppInfo, id: uuid.UUID) -> User | None:
        row = await info.context.loaders.get(UserByIdLoader).load(id)
        return User.from_row(row) if row is not None else None


@strawberry.type
class IdentityMutation:
    @strawberry.mutation(description="Public: exchange email and password for a session.")
    async def login(self, info: AppInfo, email: str, password: str) -> LoginResult:
        session = await sessions.login(
            info.context.services,
            email=email,
            password=password,
            client_ip=info.context.client_ip,
        )
        return AuthPayload.from_session(session)

    @strawberry.mutation(description="Public: rotate a refresh token into a new session.")
    async def refresh_token(self, info: AppInfo, refresh_token: str) -> RefreshTokenResult:
        session = await sessions.refresh(
            info.context.services, refresh_token=refresh_token, client_ip=info.context.client_ip
        )
        return AuthPayload.from_session(session)

    @strawberry.mutation(
        permission_classes=[IsAuthenticated],
        description="End the session of `refreshToken`, or every session (`everywhere`), which "
        "also invalidates access tokens at once.",
    )
    async def logout(
        self, info: AppInfo, refresh_token: str | None = None, everywhere: bool = False
    ) -> LogoutResult:
        await sessions.logout(
            info.context.services,
            info.context.require_actor(),
            refresh_token=refresh_token,
            everywhere=everywhere,
        )
        return LogoutSuccess()

    @strawberry.mutation(permission_classes=[CanManageUsers])
    async def create_user(self, info: AppInfo, input: CreateUserInput) -> CreateUserResult:
        row = await users.create_user(
            info.context.services,
            info.context.require_actor(),
            email=input.email,
            password=input.password,
            role=input.role,
        )
        return UserSuccess(user=User.from_row(row))

    @strawberry.mutation(permission_classes=[CanManageUsers])
    async def update_user_role(self, info: AppInfo, id: uuid.UUID, role: Role) -> UpdateUserResult:
        row = await users.update_user_role(
            info.context.services, info.context.require_actor(), id, role
        )
        return UserSuccess(user=User.from_row(row))

    @strawberry.mutation(
        permission_classes=[CanManageUsers],
        description="Disable an account: its sessions and tokens stop working at once.",
    )
    async def disable_user(self, info: AppInfo, id: uuid.UUID) -> UpdateUserResult:
        row = await users.set_user_disabled(
            info.context.services, info.context.require_actor(), id, disabled=True
        )
        return UserSuccess(user=User.from_row(row))

    @strawberry.mutation(permission_classes=[CanManageUsers])
    async def enable_user(self, info: AppInfo, id: uuid.UUID) -> UpdateUserResult:
        row = await users.set_user_disabled(
            info.context.services, info.context.require_actor(), id, disabled=False
        )
        return UserSuccess(user=User.from_row(row))
