"""`GET /metrics` on an app's public port, when METRICS_PUBLIC asks for it.

Off by default; the settings refuse it without METRICS_TOKEN, so on a public port the
figures are only ever shown to a scraper holding the token. The exposition reads files
(multiprocess mode), so it runs off the event loop.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from core.config import Settings
from http_common.error_envelope import error_response
from telemetry.exposition import CONTENT_TYPE, Exposition
from telemetry.listener import PATH, token_accepted


def public_metrics_routes(settings: Settings) -> list[Route]:
    if not (settings.metrics_enabled and settings.metrics_public and settings.metrics_token):
        return []
    token = settings.metrics_token.get_secret_value()
    exposition = Exposition()

    async def metrics(request: Request) -> Response:
        if not token_accepted(request.headers.get("authorization"), token):
            return error_response(
                401,
                "unauthenticated",
                "metrics need `Authorization: Bearer <METRICS_TOKEN>`",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
        body = await asyncio.to_thread(exposition.render)
        return Response(body, media_type=CONTENT_TYPE)

    return [Route(PATH, metrics, methods=["GET"])]
