"""The per-request GraphQL context: services, who is asking, and the request's DataLoaders.

A new Context is built for every HTTP request (and once per websocket connection) in
`build_context`, so DataLoader caches never outlive a request and never leak one user's data
into another's response. On a websocket each operation runs with its own copy
(`for_operation`), holding the identity re-checked when the operation started.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.types.info import Info

from core.bootstrap import Services
from core.errors import Unauthenticated
from core.identity.sessions import AuthenticatedSession, authenticate_session
from core.kernel.actor import Actor
from http_common.bearer import bearer_token

LoaderT = TypeVar("LoaderT")


class Loaders:
    """Lazily creates each DataLoader once per request, keyed by its factory.

    Any domain can define a loader (usually a DataLoader subclass taking `Services`) in its own
    module and use it as `info.context.loaders.get(StoreByIdLoader).load(id)`; nothing has to
    be registered here.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._loaders: dict[Callable[[Services], Any], Any] = {}

    def get(self, factory: Callable[[Services], LoaderT]) -> LoaderT:
        loader = self._loaders.get(factory)
        if loader is None:
            loader = self._loaders[factory] = factory(self._services)
        return loader

    def clear(self) -> None:
        """Forget every cached value (long-lived websocket contexts call this per event)."""
        self._loaders.clear()


@dataclass
class Context:
    services: Services
    request: Request | WebSocket
    response: Response | WebSocket | None
    client_ip: str | None
    loaders: Loaders
    actor: Actor | None = None
    # Why the presented token was refused (expired, revoked...), reported by IsAuthenticated.
    auth_error: Unauthenticated | None = None
    # Set by Strawberry from the graphql-transport-ws `connection_init` payload.
    connection_params: dict[str, Any] | None = field(default=None)
    # The presented access token and what it proved; a websocket re-checks the token for
    # every operation and closes itself at `session.expires_at`.
    access_token: str | None = field(default=None, repr=False)
    session: AuthenticatedSession | None = None
    # The user whose per-user websocket slot this connection holds (graphql_api.websocket).
    counted_user: uuid.UUID | None = None

    def require_actor(self) -> Actor:
        """The authenticated actor, or the reason there is none."""
        if self.actor is not None:
            return self.actor
        raise self.auth_error or Unauthenticated("authentication required")

    async def authenticate_token(self, token: str | None) -> None:
        """Adopt the actor behind a console access token, or remember why it was refused.
        The fields change together after the check, so an operation starting meanwhile on the
        same websocket never sees a half-updated identity."""
        session: AuthenticatedSession | None = None
        error: Unauthenticated | None = None
        if token:
            try:
                session = await authenticate_session(self.services, token, self.client_ip)
            except Unauthenticated as exc:
                error = exc
        self.access_token, self.session, self.auth_error = token, session, error
        self.actor = session.actor if session is not None else None

    def for_operation(self) -> Context:
        """A copy for one websocket operation: its own DataLoaders, and the identity as it
        stands now, so concurrent operations on one connection never share caches."""
        return replace(self, loaders=Loaders(self.services))


AppInfo = Info[Context, None]


def client_ip(connection: HTTPConnection) -> str | None:
    """The peer, or the client a TRUSTED_PROXIES proxy forwarded (http_common.forwarded)."""
    return connection.client.host if connection.client else None


async def build_context(
    services: Services, request: Request | WebSocket, response: Response | WebSocket | None
) -> Context:
    context = Context(
        services=services,
        request=request,
        response=response,
        client_ip=client_ip(request),
        loaders=Loaders(services),
    )
    try:
        token = bearer_token(request.headers.get("authorization"))
    except Unauthenticated as exc:
        context.auth_error = exc
        return context
    await context.authenticate_token(token)
    return context
