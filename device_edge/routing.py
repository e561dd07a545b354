"""Edge routes that carry their own contract: one place describes a route for the OpenAPI
document, its body limit and whether it needs a device token.

To add a route group (e.g. `routes/plan.py`): build `routes = [EdgeRoute(...), ...]` with an
`Operation` each, then mount the module in `device_edge/app.py`. The OpenAPI document and
its test pick it up from the router; an undocumented route makes the test fail.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from device_edge.limits import DEFAULT_BODY_LIMIT
from http_common.body_limit import limited_receive

Endpoint = Callable[[Request], Awaitable[Response]]


@dataclass(frozen=True)
class Reply:
    """A documented successful (or non-error) answer."""

    status: int
    description: str
    model: type[BaseModel] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)  # name -> description
    media_type: str = "application/json"


@dataclass(frozen=True)
class Operation:
    operation_id: str
    summary: str
    description: str = ""
    tags: tuple[str, ...] = ()
    request_model: type[BaseModel] | None = None
    request_required: bool = True
    replies: tuple[Reply, ...] = ()
    # Error answers beyond the automatic ones: status -> the `error.code` values it carries.
    errors: Mapping[int, tuple[str, ...]] = field(default_factory=dict)
    authenticated: bool = False
    max_body_bytes: int = DEFAULT_BODY_LIMIT
    # Raw OpenAPI parameter objects (headers such as If-None-Match, query parameters).
    parameters: tuple[Mapping[str, Any], ...] = ()


OPERATION_ATTR = "operation"


def describe(route: BaseRoute, operation: Operation) -> BaseRoute:
    """Attach a contract to a route built elsewhere (health checks, shared routes)."""
    setattr(route, OPERATION_ATTR, operation)
    return route


def operation_of(route: BaseRoute) -> Operation | None:
    op = getattr(route, OPERATION_ATTR, None)
    return op if isinstance(op, Operation) else None


class EdgeRoute(Route):
    """A Starlette route for one method, with its Operation and its body limit."""

    def __init__(self, path: str, endpoint: Endpoint, *, method: str, operation: Operation):
        super().__init__(path, endpoint, methods=[method], name=operation.operation_id)
        self.operation = operation

    def body_limit(self, scope: Scope) -> int:
        app = scope.get("app")
        settings = getattr(getattr(app, "state", None), "settings", None)
        cap = getattr(settings, "max_request_bytes", None)
        limit = self.operation.max_body_bytes
        return min(limit, cap) if isinstance(cap, int) else limit

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().handle(scope, limited_receive(scope, receive, self.body_limit(scope)), send)
