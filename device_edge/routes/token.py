"""Refresh-token rotation."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.devices.credentials import refresh_credentials
from device_edge.context import client_address, edge_context
from device_edge.limits import SMALL_BODY_LIMIT
from device_edge.responses import json_response
from device_edge.routes.pairing import tokens_body
from device_edge.routing import EdgeRoute, Operation, Reply
from device_edge.schemas.common import DeviceTokens
from device_edge.schemas.pairing import RefreshRequest
from device_edge.validation import parse_json


async def refresh(request: Request) -> Response:
    body = await parse_json(request, RefreshRequest)
    context = edge_context(request)
    credentials = await refresh_credentials(
        context.services, context.tokens, body.refresh_token, client_ip=client_address(request)
    )
    return json_response(tokens_body(credentials), headers={"Cache-Control": "no-store"})


routes = [
    EdgeRoute(
        "/v1/device/token/refresh",
        refresh,
        method="POST",
        operation=Operation(
            operation_id="refreshToken",
            summary="Rotate the refresh token and get a new access token",
            description=(
                "The presented refresh token is spent; keep the new one. Presenting a spent "
                "token again is treated as theft: every token of the device is revoked (401 "
                "`invalid_grant`) and the device must pair again. If the deployment sets "
                "DEVICE_REFRESH_RETRY_GRACE_S, a player that lost the answer may retry with the "
                "same token within that many seconds, provided the token it missed was never "
                "used; it gets new tokens and must forget any it received before."
            ),
            tags=("tokens",),
            request_model=RefreshRequest,
            replies=(Reply(200, "New tokens", DeviceTokens),),
            errors={401: ("invalid_grant",)},
            max_body_bytes=SMALL_BODY_LIMIT,
        ),
    )
]
