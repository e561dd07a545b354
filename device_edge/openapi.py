"""The edge's OpenAPI 3.1 document, generated from the routes actually mounted.

Nothing here is written by hand per route: paths and methods come from the router, request
and response schemas from the pydantic models each `Operation` names, and the error answers
from the Operation plus the automatic ones (validation, body size, authentication, 500).
So the document cannot drift from the app; a route without an Operation is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from device_edge.auth import AUTH_ERROR_CODES
from device_edge.routing import EdgeRoute, Operation, Reply, operation_of
from device_edge.schemas.common import ErrorBody, FieldError

OPENAPI_PATH = "/v1/device/openapi.json"
REF_TEMPLATE = "#/components/schemas/{model}"

SchemaRefs = Mapping[tuple[Any, JsonSchemaMode], Any]
SECURITY_SCHEME = "deviceToken"

ERROR_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing, invalid, expired or revoked device token",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    413: "Request body too large",
    415: "Body is not application/json",
    422: "Invalid fields; `details.errors` lists each one",
    429: "Too many requests; see Retry-After",
    500: "Unexpected server error (no details are disclosed)",
}


class UndocumentedRoute(RuntimeError):
    pass


def _methods(route: Route) -> list[str]:
    return sorted(m for m in (route.methods or {"GET"}) if m != "HEAD")


def _documented(routes: Iterable[BaseRoute]) -> list[tuple[Route, Operation]]:
    found: list[tuple[Route, Operation]] = []
    for route in routes:
        operation = operation_of(route)
        if not isinstance(route, Route) or operation is None:
            raise UndocumentedRoute(f"route {route!r} has no Operation (see device_edge.routing)")
        found.append((route, operation))
    return found


def _error_codes(operation: Operation) -> dict[int, list[str]]:
    codes: dict[int, list[str]] = {}

    def add(status: int, *names: str) -> None:
        bucket = codes.setdefault(status, [])
        bucket.extend(name for name in names if name not in bucket)

    if operation.request_model is not None:
        add(400, "malformed_json")
        add(413, "payload_too_large")
        add(415, "unsupported_media_type")
        add(422, "validation_error")
    if operation.authenticated:
        add(401, *AUTH_ERROR_CODES, "device_not_active")
    for status, names in operation.errors.items():
        add(status, *names)
    add(500, "internal_error")
    add(503, "unavailable")  # a backend briefly out of reach; comes with Retry-After
    return dict(sorted(codes.items()))


def _schema_pairs(
    operations: Sequence[Operation],
) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    pairs: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (ErrorBody, "serialization"),
        (FieldError, "serialization"),
    ]
    for operation in operations:
        if operation.request_model is not None:
            pairs.append((operation.request_model, "validation"))
        pairs.extend((r.model, "serialization") for r in operation.replies if r.model is not None)
    return list(dict.fromkeys(pairs))


def _reply(reply: Reply, refs: SchemaRefs) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": reply.description}
    if reply.model is not None:
        schema = refs[(reply.model, "serialization")]
        answer["content"] = {reply.media_type: {"schema": schema}}
    elif reply.status != 304 and reply.status != 204:
        answer["content"] = {reply.media_type: {"schema": {"type": "object"}}}
    if reply.headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in reply.headers.items()
        }
    return answer


def _operation_object(
    route: Route,
    operation: Operation,
    refs: SchemaRefs,
) -> dict[str, Any]:
    error_ref = refs[(ErrorBody, "serialization")]
    responses: dict[str, Any] = {str(r.status): _reply(r, refs) for r in operation.replies}
    for status, codes in _error_codes(operation).items():
        listed = ", ".join(f"`{code}`" for code in codes)
        response: dict[str, Any] = {
            "description": f"{ERROR_DESCRIPTIONS.get(status, 'Error')}. error.code: {listed}",
            "content": {"application/json": {"schema": error_ref}},
            "x-error-codes": codes,
        }
        if status == 429:
            response["headers"] = {
                "Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}
            }
        responses[str(status)] = response
    document: dict[str, Any] = {
        "operationId": operation.operation_id,
        "summary": operation.summary,
        "tags": list(operation.tags),
        "responses": responses,
    }
    if operation.description:
        document["description"] = operation.description
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in route.param_convertors
    ]
    parameters.extend(dict(p) for p in operation.parameters)
    if parameters:
        document["parameters"] = parameters
    if operation.request_model is not None:
        document["requestBody"] = {
            "required": operation.request_required,
            "content": {
                "application/json": {"schema": refs[(operation.request_model, "validation")]}
            },
        }
    if operation.authenticated:
        document["security"] = [{SECURITY_SCHEME: []}]
    return document


def build_openapi(routes: Iterable[BaseRoute], *, server_url: str | None = None) -> dict[str, Any]:
    documented = _documented(routes)
    refs, definitions = models_json_schema(
        _schema_pairs([operation for _, operation in documented]), ref_template=REF_TEMPLATE
    )
    paths: dict[str, dict[str, Any]] = {}
    for route, operation in documented:
        for method in _methods(route):
            item = paths.setdefault(route.path_format, {})
            item[method.lower()] = _operation_object(route, operation, refs)
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "alive-signage device edge",
            "version": "1",
            "description": (
                "The contract between signage players and the control plane. Every 4xx and "
                '5xx answer is `{"error": {"code", "message", "details"?}}`; branch on '
                "`error.code`."
            ),
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                SECURITY_SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    if server_url:
        document["servers"] = [{"url": server_url}]
    return document


async def serve_openapi(request: Request) -> Response:
    state = request.app.state
    cached = getattr(state, "openapi_json", None)
    if cached is None:
        settings = getattr(state, "settings", None)
        server_url = getattr(settings, "public_edge_url", None)
        cached = orjson.dumps(build_openapi(request.app.routes, server_url=server_url))
        state.openapi_json = cached
    return Response(cached, media_type="application/json")


routes = [
    EdgeRoute(
        OPENAPI_PATH,
        serve_openapi,
        method="GET",
        operation=Operation(
            operation_id="openapi",
            summary="This OpenAPI document",
            tags=("meta",),
            replies=(Reply(200, "The OpenAPI 3.1 document of the device edge"),),
        ),
    )
]
