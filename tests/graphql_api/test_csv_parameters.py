"""The CSV export refuses what it does not understand, instead of exporting more than asked."""

from __future__ import annotations

import httpx
import pytest

from core.bootstrap import Services
from core.db.enums import Role
from tests.graphql_api.helpers import bearer, create_user_and_token
from tests.graphql_api.test_reports import CSV_URL


@pytest.mark.parametrize(
    "query",
    [
        "campaignId=00000000-0000-0000-0000-000000000001",  # camelCase: a typo, not a filter
        "from=2026-01-01&storeid=00000000-0000-0000-0000-000000000001",
        "from=2026-01-01&%00=1",
    ],
)
async def test_unknown_parameters_are_refused(
    api_client: httpx.AsyncClient, services: Services, query: str
) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    response = await api_client.get(f"{CSV_URL}?{query}", headers=bearer(viewer.token))
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["errors"][0]["code"] == "unknown_parameter"
    assert "\x00" not in response.text


@pytest.mark.parametrize(
    "query",
    ["campaign_id=%00", "store_id=" + "a" * 5000, "group_by=%00", "from=%00", "to=%ED%B2%80"],
)
async def test_unstorable_values_are_a_422(
    api_client: httpx.AsyncClient, services: Services, query: str
) -> None:
    viewer = await create_user_and_token(services, Role.VIEWER)
    response = await api_client.get(f"{CSV_URL}?{query}", headers=bearer(viewer.token))
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
