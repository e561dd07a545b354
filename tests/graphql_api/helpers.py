"""Reusable helpers for admin-API tests (stable: other domains' tests import them).

- `gql(client, query, variables, token=...)` posts one operation and returns the JSON body;
  `gql_data(...)` also asserts there are no top-level errors and returns `data`.
- `create_user_and_token(services, Role.OPERATOR)` inserts a user and mints a console access
  token for them (no Argon2 cost, no login round trip); `login(client, email, password)` does
  the real thing.
- `insert_store/insert_group/insert_device/insert_playlist` create rows directly.
- `count_queries(services)` counts the SQL statements run inside a `with` block.
- `serve(app)` runs an app under uvicorn in the test's loop, for real websocket clients.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy import event

from core.bootstrap import Services
from core.db.enums import DeviceStatus, Role
from core.db.tables import device_groups, devices, playlists, stores, users
from core.identity.passwords import hash_password
from core.security.tokens import TokenKind, TokenService

TEST_PASSWORD = "correct horse battery staple"


@lru_cache(maxsize=1)
def shared_password_hash() -> str:
    """Argon2 is slow on purpose; hash the shared test password once per session."""
    return hash_password(TEST_PASSWORD)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """POST one GraphQL operation; asserts HTTP 200 and JSON, returns the whole body."""
    response = await client.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={**bearer(token), **(headers or {})},
    )
    assert response.status_code == 200, (response.status_code, response.text)
    body: dict[str, Any] = response.json()
    return body


async def gql_data(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    *,
    token: str | None = None,
) -> dict[str, Any]:
    body = await gql(client, query, variables, token=token)
    assert not body.get("errors"), body.get("errors")
    data: dict[str, Any] = body["data"]
    return data


def error_codes(body: dict[str, Any]) -> list[str]:
    """The `extensions.code` of each top-level error."""
    return [error.get("extensions", {}).get("code") for error in body.get("errors") or []]


@dataclass(frozen=True)
class ConsoleUser:
    id: uuid.UUID
    email: str
    role: Role
    token: str
    password: str = TEST_PASSWORD


async def create_user(
    services: Services,
    *,
    role: Role = Role.ADMIN,
    email: str | None = None,
    disabled: bool = False,
) -> tuple[uuid.UUID, str]:
    email = email or f"{role.value.lower()}-{uuid.uuid4().hex[:8]}@example.test"
    async with services.uow() as uow:
        user_id = (
            await uow.conn.execute(
                sa.insert(users)
                .values(
                    email=email,
                    password_hash=shared_password_hash(),
                    role=role.value,
                    disabled=disabled,
                )
                .returning(users.c.id)
            )
        ).scalar_one()
        await uow.commit()
    return user_id, email


def mint_console_token(
    services: Services, user_id: uuid.UUID, role: Role, *, epoch: int = 0, ttl_s: int = 900
) -> str:
    token, _ = TokenService(services.settings, services.clock).issue(
        TokenKind.CONSOLE_ACCESS,
        str(user_id),
        ttl_s=ttl_s,
        extra={"role": role.value, "epoch": epoch},
    )
    return token


def mint_device_token(services: Services, device_id: uuid.UUID, *, epoch: int = 0) -> str:
    token, _ = TokenService(services.settings, services.clock).issue(
        TokenKind.DEVICE_ACCESS, str(device_id), ttl_s=900, extra={"epoch": epoch}
    )
    return token


async def create_user_and_token(
    services: Services, role: Role = Role.ADMIN, *, email: str | None = None
) -> ConsoleUser:
    user_id, email = await create_user(services, role=role, email=email)
    return ConsoleUser(user_id, email, role, mint_console_token(services, user_id, role))


LOGIN = """
mutation Login($email: String!, $password: String!) {
  login(email: $email, password: $password) {
    __typename
    ... on AuthPayload { accessToken refreshToken userId role user { email } }
    ... on Error { code message }
    ... on RateLimitedError { retryAfterSeconds }
  }
}
"""


async def login(client: httpx.AsyncClient, email: str, password: str) -> dict[str, Any]:
    """Run the real `login` mutation; returns its result object."""
    data = await gql_data(client, LOGIN, {"email": email, "password": password})
    result: dict[str, Any] = data["login"]
    return result


async def insert_store(services: Services, **values: Any) -> uuid.UUID:
    values.setdefault("name", f"Store {uuid.uuid4().hex[:6]}")
    values.setdefault("timezone", "Europe/Berlin")
    return await _insert(services, stores, values)


async def insert_group(services: Services, **values: Any) -> uuid.UUID:
    values.setdefault("name", f"Group {uuid.uuid4().hex[:6]}")
    values.setdefault("policy_json", {"heartbeat_interval_s": 60, "offline_threshold_s": 180})
    return await _insert(services, device_groups, values)


async def insert_playlist(services: Services, **values: Any) -> uuid.UUID:
    values.setdefault("name", f"Playlist {uuid.uuid4().hex[:6]}")
    return await _insert(services, playlists, values)


async def insert_device(services: Services, **values: Any) -> uuid.UUID:
    values.setdefault("external_name", f"Screen {uuid.uuid4().hex[:6]}")
    values.setdefault("status", DeviceStatus.ONLINE.value)
    return await _insert(services, devices, values)


async def insert_devices(services: Services, rows: list[dict[str, Any]]) -> list[uuid.UUID]:
    """Many devices in one statement."""
    for row in rows:
        row.setdefault("status", DeviceStatus.ONLINE.value)
    async with services.uow() as uow:
        result = await uow.conn.execute(sa.insert(devices).returning(devices.c.id), rows)
        ids = [row.id for row in result]
        await uow.commit()
    return ids


async def _insert(services: Services, table: sa.Table, values: dict[str, Any]) -> uuid.UUID:
    async with services.uow() as uow:
        new_id: uuid.UUID = (
            await uow.conn.execute(sa.insert(table).values(**values).returning(table.c.id))
        ).scalar_one()
        await uow.commit()
    return new_id


@dataclass
class QueryCount:
    statements: list[str]

    @property
    def count(self) -> int:
        return len(self.statements)


@contextmanager
def count_queries(services: Services) -> Iterator[QueryCount]:
    """Count every SQL statement sent by `services.engine` inside the block."""
    counter = QueryCount(statements=[])

    def before_cursor_execute(*args: Any) -> None:
        counter.statements.append(str(args[2]))

    sync_engine = services.engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", before_cursor_execute)
    try:
        yield counter
    finally:
        event.remove(sync_engine, "before_cursor_execute", before_cursor_execute)


@asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn on a free local port, in this event loop (so it shares
    the test's Services), for real websocket clients. Yields the base URL `127.0.0.1:<port>`."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, lifespan="off", log_level="warning", ws="websockets-sansio")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()
