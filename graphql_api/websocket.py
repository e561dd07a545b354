"""The console's websocket (graphql-transport-ws): who may open one, how many, how long it
lives, and what every operation on it re-checks.

- **Origin.** Browsers apply no CORS to websockets, so the handshake itself is checked
  (Strawberry's `allowed_origins`): a page from an origin in CONSOLE_ORIGINS, or from the
  API's own origin, may connect; any other Origin is refused with HTTP 403 before the socket
  opens. No Origin header means no browser, hence no ambient credentials: allowed.
- **Authentication** happens at `connection_init` (the token is in its payload); a refused
  token closes the socket with 4403.
- **Every operation** (query, mutation, subscription) re-checks the token and the user with
  the function every HTTP request uses (`core.identity.sessions.authenticate_session`: token
  signature and expiry against the injected clock, then one primary-key lookup). A refused
  operation is answered with an `error` message carrying the auth code and is not executed;
  the socket is then closed with 4403.
- **The socket ends with its session**: closed with 4403 when the token expires (a timer
  whose deadline comes from the clock) or as soon as the user's token epoch is bumped
  (disable, role change, logout everywhere, refresh-token reuse), announced on the
  `sessions` channel to every API process.
- **Caps** (per API process): at most WS_MAX_CONNECTIONS_PER_ADDRESS sockets per client
  address, counted before authentication, and WS_MAX_CONNECTIONS_PER_USER per user, counted
  at `connection_init`. One more is closed with 4429 without running anything.
- **Backend outages** (`core.backends`): PostgreSQL or Redis out of reach is nobody's fault
  and never an unhandled error. At `connection_init` (the token check, the `sessions`
  subscription) the socket is closed with 1013 "Try Again Later" and the client reconnects
  later; at an operation's token check, that operation is answered with an `error` whose
  code is UNAVAILABLE (with `retryAfterSeconds`) and the socket stays open. Subscriptions
  already running survive a Redis outage: the events bus reconnects and they deliver
  events again once Redis is back (events published meanwhile are lost, as pub/sub loses
  them for any absent subscriber, and the stream does not mark the gap).

Each operation runs with its own copy of the connection's Context (its own DataLoaders and
the identity just checked), so concurrent subscriptions on one socket share no caches.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Hashable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import Any

import structlog
from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect
from strawberry import UNSET
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
    _OperationStreamClosed,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    CompleteMessage,
    ConnectionInitMessage,
    SubscribeMessage,
)
from strawberry.utils.aio import aclosing

from core.config import Settings
from core.errors import BackendUnavailable, Unauthenticated
from core.events_bus import SESSIONS, EventBus, EventsLost, Subscription
from core.identity.sessions import AuthenticatedSession, supersedes
from graphql_api.context import Context
from graphql_api.error_log import log_backend_unavailable
from graphql_api.errors import as_domain_error, top_level_code
from http_common.bearer import bearer_token

log = structlog.get_logger(__name__)

CLOSE_FORBIDDEN = 4403  # refused or ended session (graphql-transport-ws's own "Forbidden")
CLOSE_TOO_MANY = 4429  # over a connection cap
CLOSE_TRY_AGAIN_LATER = 1013  # RFC 6455's registry: a backend is briefly out of reach


class TooManyConnections(Exception):
    """A connection over a cap; the handler closes it with 4429."""


@dataclass
class Slots:
    """Open connections per key (user or address) in this process, at most `limit` each."""

    limit: int
    counts: Counter[Hashable] = field(default_factory=Counter)

    def take(self, key: Hashable) -> bool:
        if self.counts[key] >= self.limit:
            return False
        self.counts[key] += 1
        return True

    def release(self, key: Hashable) -> None:
        self.counts[key] -= 1
        if self.counts[key] <= 0:
            del self.counts[key]


@dataclass
class ConnectionCaps:
    """Per process: the caps protect this process's memory and tasks, so with N API
    processes a user may hold up to N times the cap."""

    per_user: Slots
    per_address: Slots

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionCaps:
        return cls(
            per_user=Slots(settings.ws_max_connections_per_user),
            per_address=Slots(settings.ws_max_connections_per_address),
        )


class ConsoleTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Strawberry's graphql-transport-ws handler, plus the checks described above."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._session_watch: asyncio.Task[None] | None = None
        self._session_events = AsyncExitStack()
        self._ended = False

    @property
    def _caps(self) -> ConnectionCaps:
        view = self.view
        assert isinstance(view, ConsoleWebSocketGraphQL)
        return view.caps

    async def handle(self) -> None:
        caps, address = self._caps, self.context.client_ip
        if not caps.per_address.take(address):
            await self._close(CLOSE_TOO_MANY, "too many connections from this address")
            return
        try:
            await super().handle()
        except TooManyConnections as exc:  # from on_ws_connect, before any acknowledgement
            await self._close(CLOSE_TOO_MANY, str(exc))
        except Exception as exc:
            unavailable = _unavailable(exc)
            if unavailable is None:
                raise
            log_backend_unavailable(exc, None, "connection_init")
            await self._close(CLOSE_TRY_AGAIN_LATER, unavailable.message)
        finally:
            caps.per_address.release(address)
            if self.context.counted_user is not None:
                caps.per_user.release(self.context.counted_user)
                self.context.counted_user = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        if self.connection_init_received:  # a second one: Strawberry closes the socket
            await super().handle_connection_init(message)
            return
        # Listen for epoch bumps BEFORE the token is checked, so none can slip in between.
        services = self.context.services
        events = await self._session_events.enter_async_context(
            EventBus(services.redis, services.keys).subscribe(SESSIONS)
        )
        await super().handle_connection_init(message)
        session = self.context.session
        if self.connection_acknowledged and session is not None:
            self._session_watch = asyncio.create_task(
                self._close_when_session_ends(session, events), name="ws-session-watch"
            )
        else:
            await self._session_events.aclose()

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self._ended:  # sent before the client saw the close: nothing more runs
            return
        if self.connection_acknowledged:
            context = self.context
            try:
                await context.authenticate_token(context.access_token)
            except Exception as exc:
                unavailable = _unavailable(exc)
                if unavailable is None:
                    raise
                log_backend_unavailable(exc, None, None)
                await self._answer_error(message["id"], unavailable)
                return
            if context.actor is None:
                error = context.auth_error or Unauthenticated("authentication required")
                await self._refuse(message["id"], error)
                return
        await super().handle_subscribe(message)

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        """Strawberry's `run_operation` (0.341), except that the operation gets its own
        Context (`Context.for_operation`) instead of the connection's."""
        try:
            result_source = await self.schema.stream(
                operation.query,
                variable_values=operation.variables,
                context_value=self.context.for_operation(),
                root_value=self.root_value,
                operation_name=operation.operation_name,
            )
            async with aclosing(result_source):
                await self._send_result_stream(operation, result_source)
            await operation.send_operation_message(
                CompleteMessage(id=operation.id, type="complete")
            )
        except _OperationStreamClosed:
            return
        except Exception as error:
            await self.handle_task_exception(error)
            with suppress(Exception):
                await operation.send_operation_message({"id": operation.id, "type": "complete"})
            self.operations.pop(operation.id, None)
            raise

    async def shutdown(self) -> None:
        watch, self._session_watch = self._session_watch, None
        if watch is not None and watch is not asyncio.current_task():
            watch.cancel()
            with suppress(asyncio.CancelledError):
                await watch
        await self._session_events.aclose()
        await super().shutdown()

    async def _refuse(self, operation_id: str, error: Unauthenticated) -> None:
        """Answer the operation with the auth error (it does not run), then end the socket."""
        await self._answer_error(operation_id, error)
        await self._end_session("session is no longer valid")

    async def _answer_error(
        self, operation_id: str, error: Unauthenticated | BackendUnavailable
    ) -> None:
        """End the operation, which did not run, with `error` (its code, and when to retry)."""
        extensions: dict[str, Any] = {"code": top_level_code(error).value}
        if isinstance(error, BackendUnavailable):
            extensions["retryAfterSeconds"] = error.retry_after_s
        answer = GraphQLError(error.message, extensions=extensions)
        with suppress(WebSocketDisconnected):
            await self.send_message(
                {"id": operation_id, "type": "error", "payload": [answer.formatted]}
            )

    async def _close_when_session_ends(
        self, session: AuthenticatedSession, events: Subscription
    ) -> None:
        await self._end_session(await self._session_end(session, events))

    async def _session_end(self, session: AuthenticatedSession, events: Subscription) -> str:
        """Wait for the token's expiry or for the user's epoch to move past the token's,
        whichever comes first; return why the session ended."""
        left = (session.expires_at - self.context.services.clock.now()).total_seconds()
        try:
            async with asyncio.timeout(max(left, 0.0)):
                async for event in events:
                    if supersedes(event.payload, session):
                        return "session revoked"
        except TimeoutError:
            return "token expired"
        except EventsLost:
            return "session events were lost"
        return "session revoked"  # not reached: a subscription does not end by itself

    async def _end_session(self, reason: str) -> None:
        if self._ended:
            return
        self._ended = True
        session = self.context.session
        log.info(
            "console websocket closed",
            reason=reason,
            user_id=str(session.actor.user_id) if session is not None else None,
        )
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)
        await self._close(CLOSE_FORBIDDEN, reason)

    async def _close(self, code: int, reason: str) -> None:
        # The client may be gone already; there is nothing left to tell it then.
        with suppress(WebSocketDisconnect, WebSocketDisconnected, RuntimeError, OSError):
            await self.websocket.close(code=code, reason=reason)


def _unavailable(exc: BaseException) -> BackendUnavailable | None:
    """`exc` as a backend outage (`core.backends`), or None for anything else."""
    error = as_domain_error(exc)
    return error if isinstance(error, BackendUnavailable) else None


class ConsoleWebSocketGraphQL(GraphQL[Context, None]):
    """The websocket half of the console's GraphQL app: authentication at `connection_init`,
    the per-user cap, and the handler above."""

    graphql_transport_ws_handler_class = ConsoleTransportWSHandler

    def __init__(self, schema: BaseSchema, *, caps: ConnectionCaps, **options: Any) -> None:
        super().__init__(schema, **options)
        self.caps = caps

    async def on_ws_connect(self, context: Context) -> Any:
        """Browsers cannot set headers on websockets: the console token comes in the
        `connection_init` payload as `{"authorization": "Bearer <token>"}` (or `{"token": ...}`).
        A connection without a valid console token is closed (4403); one more than the user's
        cap is closed (4429)."""
        params = context.connection_params or {}
        raw = params.get("authorization") or params.get("Authorization")
        try:
            token = bearer_token(raw) if isinstance(raw, str) else params.get("token")
        except Unauthenticated as exc:
            raise ConnectionRejectionError() from exc
        if isinstance(token, str) and token:
            await context.authenticate_token(token)
        if context.actor is None or context.actor.user_id is None:
            raise ConnectionRejectionError()
        user_id: uuid.UUID = context.actor.user_id
        if not self.caps.per_user.take(user_id):
            raise TooManyConnections("too many connections for this user")
        context.counted_user = user_id
        return UNSET
