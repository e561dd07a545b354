"""Console authentication over real HTTP: login, refresh rotation and reuse detection, logout,
disabled users, token-type confusion, and login throttling."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.clock import FrozenClock
from core.db.enums import Role
from core.db.tables import audit_log, user_refresh_tokens
from core.security.tokens import TokenKind, TokenService
from tests.graphql_api.helpers import (
    TEST_PASSWORD,
    create_user,
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    login,
    mint_console_token,
    mint_device_token,
)

ME = "query { me { id email role } }"

REFRESH = """
mutation Refresh($token: String!) {
  refreshToken(refreshToken: $token) {
    __typename
    ... on AuthPayload { accessToken refreshToken }
    ... on Error { code message }
  }
}
"""


async def _audit_actions(services: Services) -> list[dict[str, Any]]:
    async with services.engine.connect() as conn:
        rows = (await conn.execute(sa.select(audit_log).order_by(audit_log.c.id))).all()
    return [dict(row._mapping) for row in rows]


async def test_login_returns_a_working_session(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user_id, email = await create_user(services, role=Role.OPERATOR)
    result = await login(api_client, email.upper(), TEST_PASSWORD)
    assert result["__typename"] == "AuthPayload"
    assert result["role"] == "OPERATOR" and result["userId"] == str(user_id)
    assert result["user"] == {"email": email}

    me = await gql_data(api_client, ME, token=result["accessToken"])
    assert me["me"] == {"id": str(user_id), "email": email, "role": "OPERATOR"}

    claims = TokenService(services.settings, services.clock).verify(
        result["accessToken"], TokenKind.CONSOLE_ACCESS
    )
    assert claims.subject == str(user_id)
    assert claims.claims["role"] == "OPERATOR" and claims.claims["epoch"] == 0
    actions = [row["action"] for row in await _audit_actions(services)]
    assert actions == ["auth.login"]


async def test_wrong_password_unknown_email_and_disabled_user_fail_alike_and_are_audited(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    _, email = await create_user(services, role=Role.VIEWER)
    _, disabled_email = await create_user(services, role=Role.VIEWER, disabled=True)
    attempts = [
        (email, "wrong password!"),
        ("nobody@example.test", TEST_PASSWORD),
        (disabled_email, TEST_PASSWORD),
    ]
    for attempt_email, password in attempts:
        result = await login(api_client, attempt_email, password)
        assert result["__typename"] == "AuthenticationError"
        assert result["code"] == "INVALID_CREDENTIALS"
        assert result["message"] == "email or password is incorrect"

    rows = await _audit_actions(services)
    assert [row["action"] for row in rows] == ["auth.login_failed"] * 3
    assert [row["target_id"] for row in rows] == [email, "nobody@example.test", disabled_email]
    assert {row["actor_type"] for row in rows} == {"ANONYMOUS"}
    assert [row["details_json"]["reason"] for row in rows] == [
        "bad_password",
        "unknown_email",
        "disabled",
    ]
    assert all(row["client_ip"] == "127.0.0.1" for row in rows)


async def test_every_field_but_login_and_refresh_needs_a_token(
    api_client: httpx.AsyncClient,
) -> None:
    body = await gql(api_client, ME)
    assert body["data"] is None
    assert error_codes(body) == ["UNAUTHENTICATED"]

    body = await gql(api_client, ME, headers={"Authorization": "Basic abc"})
    assert error_codes(body) == ["INVALID_TOKEN"]

    body = await gql(api_client, ME, token="not-a-jwt")
    assert error_codes(body) == ["INVALID_TOKEN"]


async def test_device_token_never_works_on_the_admin_api(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    # A device token whose subject is even an existing user's id must still fail (aud/typ).
    device_token = mint_device_token(services, user.id)
    body = await gql(api_client, ME, token=device_token)
    assert body["data"] is None
    assert error_codes(body) == ["INVALID_TOKEN"]
    assert "not meant for this service" in body["errors"][0]["message"]


async def test_expired_access_token_is_refused(
    api_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    clock.advance(timedelta(seconds=services.settings.console_access_ttl_s + 1))
    body = await gql(api_client, ME, token=user.token)
    assert error_codes(body) == ["TOKEN_EXPIRED"]


async def test_refresh_rotates_and_reuse_revokes_the_family(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    _, email = await create_user(services, role=Role.ADMIN)
    first = await login(api_client, email, TEST_PASSWORD)

    second = (await gql_data(api_client, REFRESH, {"token": first["refreshToken"]}))["refreshToken"]
    assert second["__typename"] == "AuthPayload"
    assert second["refreshToken"] != first["refreshToken"]
    assert (await gql_data(api_client, ME, token=second["accessToken"]))["me"]["email"] == email

    third = (await gql_data(api_client, REFRESH, {"token": second["refreshToken"]}))["refreshToken"]
    assert third["__typename"] == "AuthPayload"

    # The first token was spent: presenting it again is theft; the whole chain dies.
    reused = (await gql_data(api_client, REFRESH, {"token": first["refreshToken"]}))["refreshToken"]
    assert reused == {
        "__typename": "AuthenticationError",
        "code": "TOKEN_REUSED",
        "message": "refresh token was already used; the session is revoked",
    }
    latest = (await gql_data(api_client, REFRESH, {"token": third["refreshToken"]}))["refreshToken"]
    assert latest["__typename"] == "AuthenticationError"
    assert latest["code"] == "INVALID_TOKEN"

    async with services.engine.connect() as conn:
        rows = (await conn.execute(sa.select(user_refresh_tokens))).all()
    assert len(rows) == 3 and len({row.family_id for row in rows}) == 1
    assert all(row.revoked_at is not None for row in rows)
    assert "auth.refresh_reused" in [row["action"] for row in await _audit_actions(services)]


async def test_unknown_and_expired_refresh_tokens_are_rejected(
    api_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    unknown = (await gql_data(api_client, REFRESH, {"token": "made-up"}))["refreshToken"]
    assert unknown["code"] == "INVALID_TOKEN"

    _, email = await create_user(services, role=Role.ADMIN)
    session = await login(api_client, email, TEST_PASSWORD)
    clock.advance(timedelta(seconds=services.settings.console_refresh_ttl_s))
    expired = (await gql_data(api_client, REFRESH, {"token": session["refreshToken"]}))[
        "refreshToken"
    ]
    assert expired["code"] == "TOKEN_EXPIRED"


async def test_logout_ends_the_refresh_chain_and_everywhere_kills_access_tokens(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    _, email = await create_user(services, role=Role.VIEWER)
    one = await login(api_client, email, TEST_PASSWORD)
    two = await login(api_client, email, TEST_PASSWORD)
    logout = """
      mutation Logout($token: String, $everywhere: Boolean!) {
        logout(refreshToken: $token, everywhere: $everywhere) {
          __typename ... on LogoutSuccess { ok }
        }
      }
    """
    data = await gql_data(
        api_client,
        logout,
        {"token": one["refreshToken"], "everywhere": False},
        token=one["accessToken"],
    )
    assert data["logout"] == {"__typename": "LogoutSuccess", "ok": True}
    after = (await gql_data(api_client, REFRESH, {"token": one["refreshToken"]}))["refreshToken"]
    assert after["code"] == "INVALID_TOKEN"
    # The other session still works until logout everywhere.
    assert (await gql_data(api_client, ME, token=two["accessToken"]))["me"]["email"] == email

    await gql_data(
        api_client, logout, {"token": None, "everywhere": True}, token=two["accessToken"]
    )
    body = await gql(api_client, ME, token=two["accessToken"])
    assert error_codes(body) == ["INVALID_TOKEN"]
    again = (await gql_data(api_client, REFRESH, {"token": two["refreshToken"]}))["refreshToken"]
    assert again["code"] == "INVALID_TOKEN"


async def test_disabling_a_user_stops_their_tokens_at_once(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    victim_id, email = await create_user(services, role=Role.OPERATOR)
    session = await login(api_client, email, TEST_PASSWORD)
    assert (await gql_data(api_client, ME, token=session["accessToken"]))["me"]["email"] == email

    data = await gql_data(
        api_client,
        """mutation($id: UUID!) {
          disableUser(id: $id) { __typename ... on UserSuccess { user { disabled } } }
        }""",
        {"id": str(victim_id)},
        token=admin.token,
    )
    assert data["disableUser"] == {"__typename": "UserSuccess", "user": {"disabled": True}}

    assert error_codes(await gql(api_client, ME, token=session["accessToken"])) == ["INVALID_TOKEN"]
    refreshed = (await gql_data(api_client, REFRESH, {"token": session["refreshToken"]}))[
        "refreshToken"
    ]
    assert refreshed["code"] == "INVALID_TOKEN"
    assert (await login(api_client, email, TEST_PASSWORD))["code"] == "INVALID_CREDENTIALS"


async def test_token_with_stale_epoch_or_unknown_user_is_refused(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.ADMIN)
    stale = mint_console_token(services, user.id, Role.ADMIN, epoch=7)
    assert error_codes(await gql(api_client, ME, token=stale)) == ["INVALID_TOKEN"]
    ghost = mint_console_token(services, uuid.uuid4(), Role.ADMIN)
    assert error_codes(await gql(api_client, ME, token=ghost)) == ["INVALID_TOKEN"]


async def test_login_is_rate_limited_per_email(
    api_client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    _, email = await create_user(services, role=Role.VIEWER)
    for _ in range(5):
        assert (await login(api_client, email, "wrong-password"))["code"] == "INVALID_CREDENTIALS"
    blocked = await login(api_client, email, TEST_PASSWORD)  # even the right password
    assert blocked["__typename"] == "RateLimitedError"
    assert blocked["code"] == "RATE_LIMITED"
    assert 0 < blocked["retryAfterSeconds"] <= 900
    rows = await _audit_actions(services)
    assert rows[-1]["action"] == "auth.login_failed"
    assert rows[-1]["details_json"]["reason"] == "rate_limited"
    # The window passes and the account can log in again.
    clock.advance(timedelta(seconds=blocked["retryAfterSeconds"]))
    assert (await login(api_client, email, TEST_PASSWORD))["__typename"] == "AuthPayload"


async def test_login_is_rate_limited_per_client_address(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    for n in range(20):
        result = await login(api_client, f"guess{n}@example.test", "whatever-password")
        assert result["code"] == "INVALID_CREDENTIALS"
    _, email = await create_user(services, role=Role.VIEWER)
    blocked = await login(api_client, email, TEST_PASSWORD)
    assert blocked["__typename"] == "RateLimitedError"
    # Another address is not affected.
    other = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_client._transport.app, client=("10.1.2.3", 4000)),  # type: ignore[attr-defined]
        base_url="http://api.test",
    )
    async with other:
        assert (await login(other, email, TEST_PASSWORD))["__typename"] == "AuthPayload"


async def test_console_token_never_works_on_the_device_edge(
    api_client: httpx.AsyncClient, edge_client: httpx.AsyncClient, services: Services
) -> None:
    _, email = await create_user(services, role=Role.ADMIN)
    session = await login(api_client, email, TEST_PASSWORD)
    response = await edge_client.post(
        "/v1/device/heartbeat",
        json={"now_playing": None, "disk_used_bytes": 1, "plan_etag": None, "counters": {}},
        headers={"Authorization": f"Bearer {session['accessToken']}"},
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] in {"invalid_token", "unauthenticated"}
