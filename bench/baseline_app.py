"""The bare Starlette baseline the edge benchmarks compare against (shared by all benches).

One process, the same uvicorn flags as the edge: `uvicorn --factory bench.baseline_app:create_app`.
Its endpoints do the least an HTTP JSON endpoint can do: accept the request (reading the body
for POST) and answer a small JSON document, with no auth, validation or I/O.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


async def echo(request: Request) -> Response:
    if request.method == "POST":
        await request.body()
    return JSONResponse({"ok": True})


def create_app() -> Starlette:
    return Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])
