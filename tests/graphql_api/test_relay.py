"""Relay connections: forward and backward keyset paging, and cursors that stay valid while
rows are inserted and deleted around them."""

from __future__ import annotations

from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import devices
from tests.graphql_api.helpers import create_user_and_token, gql_data, insert_devices

PAGE = """
query($first: Int, $after: String, $last: Int, $before: String) {
  devices(orderBy: NAME, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node { name } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def _page(client: httpx.AsyncClient, token: str, **variables: Any) -> dict[str, Any]:
    result: dict[str, Any] = (await gql_data(client, PAGE, variables, token=token))["devices"]
    return result


def _names(page: dict[str, Any]) -> list[str]:
    return [edge["node"]["name"] for edge in page["edges"]]


async def test_forward_and_backward_paging(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    await insert_devices(services, [{"external_name": f"d{i:02d}"} for i in range(7)])

    first = await _page(api_client, user.token, first=3)
    assert _names(first) == ["d00", "d01", "d02"]
    assert first["pageInfo"]["hasNextPage"] is True
    assert first["pageInfo"]["hasPreviousPage"] is False
    assert first["pageInfo"]["startCursor"] == first["edges"][0]["cursor"]

    second = await _page(api_client, user.token, first=3, after=first["pageInfo"]["endCursor"])
    assert _names(second) == ["d03", "d04", "d05"]
    third = await _page(api_client, user.token, first=3, after=second["pageInfo"]["endCursor"])
    assert _names(third) == ["d06"]
    assert third["pageInfo"]["hasNextPage"] is False

    last = await _page(api_client, user.token, last=2)
    assert _names(last) == ["d05", "d06"]
    assert last["pageInfo"]["hasPreviousPage"] is True
    assert last["pageInfo"]["hasNextPage"] is False
    before = await _page(api_client, user.token, last=2, before=last["pageInfo"]["startCursor"])
    assert _names(before) == ["d03", "d04"]
    start = await _page(api_client, user.token, last=5, before=before["pageInfo"]["startCursor"])
    assert _names(start) == ["d00", "d01", "d02"]
    assert start["pageInfo"]["hasPreviousPage"] is False

    empty = await _page(api_client, user.token, first=0)
    assert empty["edges"] == [] and empty["pageInfo"]["endCursor"] is None


async def test_cursors_are_stable_while_rows_change(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    await insert_devices(services, [{"external_name": f"d{i:02d}"} for i in range(0, 10, 2)])
    first = await _page(api_client, user.token, first=2)
    assert _names(first) == ["d00", "d02"]
    cursor = first["pageInfo"]["endCursor"]

    # Rows appear before and after the cursor, and the cursor's own row disappears.
    await insert_devices(services, [{"external_name": "d01"}, {"external_name": "d03"}])
    async with services.uow() as uow:
        await uow.conn.execute(sa.delete(devices).where(devices.c.external_name == "d02"))
        await uow.commit()

    following = await _page(api_client, user.token, first=3, after=cursor)
    assert _names(following) == ["d03", "d04", "d06"]  # nothing skipped, nothing repeated
