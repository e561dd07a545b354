"""Pairing: screen codes (RFC 8628 style) and installer codes exchanged for device tokens."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.devices.credentials import DeviceCredentials
from core.pairing.codes import display_claim_code
from core.pairing.device_flow import create_screen_claim, exchange_claim
from device_edge.context import client_address, edge_context
from device_edge.limits import SMALL_BODY_LIMIT
from device_edge.responses import json_response
from device_edge.routing import EdgeRoute, Operation, Reply
from device_edge.schemas.common import DeviceTokens
from device_edge.schemas.pairing import ClaimCreated, ClaimRequest, CreateClaimRequest
from device_edge.validation import parse_json

TAG = "pairing"


def tokens_body(credentials: DeviceCredentials) -> DeviceTokens:
    return DeviceTokens(
        device_id=credentials.device_id,
        device_token=credentials.access_token,
        expires_in=credentials.expires_in,
        refresh_token=credentials.refresh_token,
    )


async def create_claim(request: Request) -> Response:
    body = await parse_json(request, CreateClaimRequest, optional=True)
    context = edge_context(request)
    claim = await create_screen_claim(
        context.services,
        device_info=body.device_info.stored() if body.device_info else None,
        client_ip=client_address(request),
    )
    expires_in = int((claim.expires_at - context.services.clock.now()).total_seconds())
    answer = ClaimCreated(
        claim_code=claim.claim_code,
        claim_code_display=display_claim_code(claim.claim_code),
        device_code=claim.device_code,
        expires_at=claim.expires_at,
        expires_in=expires_in,
        interval=claim.interval_s,
    )
    return json_response(answer, status_code=201, headers={"Cache-Control": "no-store"})


async def claim(request: Request) -> Response:
    body = await parse_json(request, ClaimRequest)
    context = edge_context(request)
    credentials = await exchange_claim(
        context.services,
        context.tokens,
        claim_code=body.claim_code,
        device_code=body.device_code,
        device_info=body.device_info.stored() if body.device_info else None,
        client_ip=client_address(request),
    )
    return json_response(tokens_body(credentials), headers={"Cache-Control": "no-store"})


CLAIM_DESCRIPTION = """\
Exchanges a claim code for device tokens.

**Screen flow** (send `claim_code` and `device_code`): poll no faster than `interval`
seconds. Until the code is approved in the console the answer is HTTP 400 with
`error.code`:
- `authorization_pending`: not decided yet, poll again after `details.interval` seconds;
- `slow_down`: polled too fast; `details.interval` is the new, longer interval;
- `access_denied`: a person denied the code; stop polling;
- `expired_token`: the code expired; request a new one with create-claim.

**Installer flow** (send `claim_code` only, as typed by the installer; case and dashes do
not matter).

A code works once: a second exchange answers 409 `invalid_grant`. Unknown codes or a
wrong `device_code` answer 400 `invalid_grant`; too many of those from one address answer
429 `rate_limited` with `Retry-After`, and so does a wrong code while too many wrong codes
were tried for that code or from all addresses together. A poll carrying the right
`device_code`, and (except from an address that used up its own budget) a correct code,
are never refused for other clients' failures.
"""

routes = [
    EdgeRoute(
        "/v1/device/pairing/create-claim",
        create_claim,
        method="POST",
        operation=Operation(
            operation_id="createClaim",
            summary="Start screen pairing: get a code to show and a secret to poll with",
            description="The body is optional. Rate-limited per client address.",
            tags=(TAG,),
            request_model=CreateClaimRequest,
            request_required=False,
            replies=(Reply(201, "A new claim", ClaimCreated),),
            errors={429: ("rate_limited",)},
            max_body_bytes=SMALL_BODY_LIMIT,
        ),
    ),
    EdgeRoute(
        "/v1/device/pairing/claim",
        claim,
        method="POST",
        operation=Operation(
            operation_id="claim",
            summary="Exchange a claim code for device tokens (both flows; also the poll)",
            description=CLAIM_DESCRIPTION,
            tags=(TAG,),
            request_model=ClaimRequest,
            replies=(Reply(200, "Paired: the device's tokens", DeviceTokens),),
            errors={
                400: (
                    "authorization_pending",
                    "slow_down",
                    "access_denied",
                    "expired_token",
                    "invalid_grant",
                ),
                409: ("invalid_grant",),
                429: ("rate_limited",),
            },
            max_body_bytes=SMALL_BODY_LIMIT,
        ),
    ),
]
