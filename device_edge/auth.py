"""Device authentication: `Authorization: Bearer <device access token>` on every device route.

The token is verified by `TokenService` (pinned HS256, listed `kid`, `iss`, `aud`, `typ`,
expiry on the injected clock), then its `epoch` claim is compared with the device's current
epoch from Redis (read together with its current plan ETag, `core.devices.state_reader`), so
a revoke or decommission in the console locks the device out at once.
(The heartbeat instead compares the epoch inside its own UPDATE, against the device row.)
Verified tokens are remembered per process (`VERIFIED_TOKEN_CACHE`); the epoch never is.
Identity comes only from here: no route reads a device id from the body.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.requests import Request

from core.devices.credentials import EPOCH_CLAIM, GROUP_CLAIM, STORE_CLAIM, TokenRevoked
from core.devices.token_epoch import REVOKED
from core.errors import Unauthenticated
from core.security.tokens import InvalidToken, TokenKind
from device_edge.context import EdgeContext, edge_context
from http_common.bearer import bearer_token

AUTH_ERROR_CODES = ("missing_token", "invalid_token", "token_expired", "token_revoked")


class MissingToken(Unauthenticated):
    code = "missing_token"


@dataclass(frozen=True, slots=True)
class DeviceIdentity:
    device_id: uuid.UUID
    # Placement when the token was minted (at most one access-token lifetime old): fine for
    # routing and logs; anything that records facts reads the devices row instead.
    store_id: uuid.UUID | None
    group_id: uuid.UUID | None
    token_id: str
    token_epoch: int
    # The device's current plan ETag, read from Redis in the same round trip as the epoch
    # (None when not cached, or when the epoch was not checked).
    plan_etag: str | None = None


def _optional_uuid(value: object) -> uuid.UUID | None:
    if value is None:
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError as exc:
        raise InvalidToken("invalid token claims") from exc


def required_bearer_token(header: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header value; devices must send one."""
    token = bearer_token(header)
    if token is None:
        raise MissingToken("send the device token as `Authorization: Bearer <token>`")
    return token


async def authenticate_device(request: Request, *, check_epoch: bool = True) -> DeviceIdentity:
    """The device behind the request's access token, or 401.

    `check_epoch=False` is only for routes whose own write compares `token_epoch` with the
    device row in the same statement (the heartbeat), which is stricter than the cache.
    """
    identity = await authenticate_header(
        edge_context(request), request.headers.get("authorization"), check_epoch=check_epoch
    )
    request.state.device = identity
    return identity


async def authenticate_header(
    context: EdgeContext, authorization: str | None, *, check_epoch: bool = True
) -> DeviceIdentity:
    """`authenticate_device` for a raw Authorization header value (no Request needed)."""
    verified = context.tokens.verify(required_bearer_token(authorization), TokenKind.DEVICE_ACCESS)
    device_id = _optional_uuid(verified.subject)
    epoch = verified.claims.get(EPOCH_CLAIM)
    if device_id is None or isinstance(epoch, bool) or not isinstance(epoch, int):
        raise InvalidToken("invalid token claims")
    plan_etag = None
    if check_epoch:
        cached = await context.device_states.read(device_id)  # one MGET per batch
        if cached.epoch == REVOKED or epoch < cached.epoch:
            raise TokenRevoked("this device's tokens were revoked")
        if epoch != cached.epoch:
            raise InvalidToken("invalid token epoch")
        plan_etag = cached.plan_etag
    return DeviceIdentity(
        device_id=device_id,
        store_id=_optional_uuid(verified.claims.get(STORE_CLAIM)),
        group_id=_optional_uuid(verified.claims.get(GROUP_CLAIM)),
        token_id=verified.jti,
        token_epoch=epoch,
        plan_etag=plan_etag,
    )
