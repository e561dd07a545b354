"""The proof-of-play report over real HTTP: the GraphQL query and the streamed CSV export."""

from __future__ import annotations

import csv
import io
import tracemalloc
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import text

from core.bootstrap import Services
from core.db.enums import Role
from graphql_api.app import create_app
from tests.conftest import T0
from tests.graphql_api.helpers import (
    create_user_and_token,
    error_codes,
    gql,
    gql_data,
    mint_device_token,
    serve,
)
from tests.proof_of_play.builders import (
    World,
    add_campaign,
    event,
    ingest,
    make_world,
    schedule_for,
)

DAY = T0.date()
CSV_URL = "/v1/admin/reports/proof-of-play.csv"

REPORT = """
query Report($filter: ProofOfPlayFilter!, $groupBy: [ProofOfPlayGroupBy!], $limit: Int) {
  proofOfPlayReport(filter: $filter, groupBy: $groupBy, limit: $limit) {
    rows { day storeId contentId campaignId plays completed starts totalDurationMs }
    totals { plays completed starts totalDurationMs }
    truncated
  }
}
"""


# 20:00 UTC on 1 March: noon that day in Los Angeles, already 05:00 on 2 March in Tokyo.
EVENING_UTC = T0 - timedelta(hours=14)


async def seed(services: Services) -> tuple[World, World, uuid.UUID]:
    """Two stores in different zones sharing a campaign, plus another campaign and none."""
    la = await make_world(services, "America/Los_Angeles")
    tokyo = await make_world(services, "Asia/Tokyo", campaign_id=la.campaign_id)
    other = await add_campaign(services)
    await schedule_for(services, tokyo.device_id, tokyo.playlist_id, other)  # tokyo plays it too
    await ingest(
        services,
        la.device,
        [
            event(la, T0 - timedelta(days=3), duration_ms=1_000),
            event(la, T0 - timedelta(days=1), duration_ms=2_000, result="SKIPPED"),
            event(la, EVENING_UTC, duration_ms=4_000),
            event(la, EVENING_UTC, type="PLAY_START", duration_ms=None, result=None),
        ],
    )
    await ingest(
        services,
        tokyo.device,
        [
            event(tokyo, T0 - timedelta(days=1), duration_ms=8_000),
            event(tokyo, EVENING_UTC, duration_ms=16_000),
            event(tokyo, EVENING_UTC, duration_ms=32_000, campaign_id=str(other)),
            event(tokyo, EVENING_UTC, duration_ms=64_000, campaign=False),
        ],
    )
    return la, tokyo, other


async def report(
    client: httpx.AsyncClient, token: str, filter: dict[str, Any], group_by: list[str] | None = None
) -> dict[str, Any]:
    data = await gql_data(client, REPORT, {"filter": filter, "groupBy": group_by}, token=token)
    result: dict[str, Any] = data["proofOfPlayReport"]
    return result


async def fetch_csv(
    client: httpx.AsyncClient, token: str, params: dict[str, str]
) -> tuple[httpx.Response, list[dict[str, str]], int]:
    chunks: list[bytes] = []
    async with client.stream(
        "GET", CSV_URL, params=params, headers={"Authorization": f"Bearer {token}"}
    ) as response:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
    text_body = b"".join(chunks).decode("utf-8")
    return response, list(csv.DictReader(io.StringIO(text_body))), len(chunks)


async def test_totals_by_campaign_and_date_range(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    la, _, other = await seed(services)
    viewer = await create_user_and_token(services, Role.VIEWER)
    campaign = str(la.campaign_id)

    everything = await report(api_client, viewer.token, {})
    assert everything["totals"] == {
        "plays": 7,
        "completed": 6,
        "starts": 1,
        "totalDurationMs": 127_000,
    }
    by_campaign = await report(api_client, viewer.token, {"campaignIds": [campaign]})
    assert by_campaign["totals"]["plays"] == 5
    # Store-local days: EVENING_UTC is still 1 March in Los Angeles, but 2 March in Tokyo.
    window = {"campaignIds": [campaign], "from": str(DAY), "to": str(DAY)}
    today = await report(api_client, viewer.token, window)
    assert today["totals"] == {"plays": 1, "completed": 1, "starts": 0, "totalDurationMs": 16_000}
    la_yesterday = await report(
        api_client,
        viewer.token,
        {
            "from": str(DAY - timedelta(days=1)),
            "to": str(DAY - timedelta(days=1)),
            "storeIds": [str(la.store_id)],
        },
    )
    assert la_yesterday["totals"] == {
        "plays": 2,
        "completed": 1,
        "starts": 1,
        "totalDurationMs": 6_000,
    }
    other_only = await report(api_client, viewer.token, {"campaignIds": [str(other)]})
    assert other_only["totals"]["totalDurationMs"] == 32_000


async def test_grouped_rows_sum_to_the_totals(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    la, tokyo, _ = await seed(services)
    admin = await create_user_and_token(services, Role.ADMIN)
    result = await report(api_client, admin.token, {}, ["STORE", "CAMPAIGN"])
    rows = result["rows"]
    assert all(r["day"] is None and r["contentId"] is None for r in rows)
    assert {(r["storeId"], r["campaignId"]) for r in rows} >= {
        (str(la.store_id), str(la.campaign_id)),
        (str(tokyo.store_id), None),
    }
    for measure in ("plays", "completed", "starts", "totalDurationMs"):
        assert sum(r[measure] for r in rows) == result["totals"][measure]
    by_day = await report(api_client, admin.token, {}, ["DAY"])
    assert [r["day"] for r in by_day["rows"]] == sorted(r["day"] for r in by_day["rows"])
    assert not by_day["truncated"]


async def test_sums_beyond_32_bits(api_client: httpx.AsyncClient, services: Services) -> None:
    w = await make_world(services)
    await ingest(
        services,
        w.device,
        [
            event(w, T0 - timedelta(hours=h), content_id=w.image_id, duration_ms=86_400_000)
            for h in range(30)
        ],
    )
    admin = await create_user_and_token(services, Role.ADMIN)
    result = await report(api_client, admin.token, {})
    assert result["totals"]["totalDurationMs"] == 30 * 86_400_000 > 2**31


async def test_the_report_needs_a_console_token(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    anonymous = await gql(api_client, REPORT, {"filter": {}})
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    device = await gql(
        api_client, REPORT, {"filter": {}}, token=mint_device_token(services, w.device_id)
    )
    assert error_codes(device) == ["INVALID_TOKEN"]
    viewer = await create_user_and_token(services, Role.VIEWER)
    reversed_range = await gql(
        api_client,
        REPORT,
        {"filter": {"from": str(DAY), "to": str(DAY - timedelta(days=1))}},
        token=viewer.token,
    )
    assert error_codes(reversed_range) == ["VALIDATION_ERROR"]


async def test_the_csv_matches_the_api_totals(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    la, _, _ = await seed(services)
    viewer = await create_user_and_token(services, Role.VIEWER)
    frm, to = str(DAY - timedelta(days=1)), str(DAY)
    api = await report(
        api_client,
        viewer.token,
        {"campaignIds": [str(la.campaign_id)], "from": frm, "to": to},
        ["DAY", "STORE"],
    )
    response, rows, _ = await fetch_csv(
        api_client,
        viewer.token,
        {"campaign_id": str(la.campaign_id), "from": frm, "to": to, "group_by": "day,store"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert list(rows[0]) == [
        "day",
        "store_id",
        "plays",
        "completed",
        "starts",
        "total_duration_ms",
    ]
    assert len(rows) == len(api["rows"])
    for csv_name, api_name in (
        ("plays", "plays"),
        ("completed", "completed"),
        ("starts", "starts"),
        ("total_duration_ms", "totalDurationMs"),
    ):
        assert sum(int(r[csv_name]) for r in rows) == api["totals"][api_name]
    assert [(r["day"], r["store_id"]) for r in rows] == [
        (a["day"], a["storeId"]) for a in api["rows"]
    ]


async def test_the_csv_needs_a_console_token_and_valid_parameters(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    w = await make_world(services)
    anonymous = await api_client.get(CSV_URL)
    assert anonymous.status_code == 401
    assert anonymous.json()["error"]["code"] == "unauthenticated"
    device = await api_client.get(
        CSV_URL, headers={"Authorization": f"Bearer {mint_device_token(services, w.device_id)}"}
    )
    assert device.status_code == 401 and device.json()["error"]["code"] == "invalid_token"
    viewer = await create_user_and_token(services, Role.VIEWER)
    auth = {"Authorization": f"Bearer {viewer.token}"}
    for params, field in (
        ({"campaign_id": "not-a-uuid"}, "campaign_id"),
        ({"from": "yesterday"}, "from"),
        ({"from": str(DAY), "to": str(DAY - timedelta(days=1))}, "to"),
        ({"group_by": "day,week"}, "group_by"),
    ):
        response = await api_client.get(CSV_URL, params=params, headers=auth)
        assert response.status_code == 422, params
        error = response.json()["error"]
        assert error["code"] == "validation_error" and error["details"]["field"] == field


async def insert_aggregate_grid(services: Services, days: int, stores: int) -> None:
    """days x stores aggregate rows straight into the table (no campaign, one content)."""
    async with services.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO proof_of_play_aggregate_daily (day, campaign_id, store_id, "
                "content_id, plays_count, completed_count, starts_count, total_duration_ms) "
                "SELECT DATE '2025-06-01' + d, '00000000-0000-0000-0000-000000000000', "
                "       gen_random_uuid(), '11111111-1111-1111-1111-111111111111', "
                "       s, s, 0, s * 1000 "
                "FROM generate_series(0, :days - 1) AS d, generate_series(1, :stores) AS s"
            ),
            {"days": days, "stores": stores},
        )


async def stream_csv_over_tcp(base_url: str, token: str) -> tuple[int, int, int, int]:
    """GET the full CSV over a real socket, reading it chunk by chunk without keeping it:
    returns (chunks, data rows, summed plays, peak traced memory while streaming)."""
    chunks = rows = plays = 0
    tail = b""
    tracemalloc.start()
    try:
        async with (
            httpx.AsyncClient(base_url=base_url, timeout=60) as client,
            client.stream(
                "GET",
                CSV_URL,
                params={"group_by": "day,store,content,campaign"},
                headers={"Authorization": f"Bearer {token}"},
            ) as response,
        ):
            assert response.status_code == 200
            async for chunk in response.aiter_raw():
                chunks += 1
                *lines, tail = (tail + chunk).split(b"\r\n")
                for line in lines:
                    if line and not line.startswith(b"day,"):
                        rows += 1
                        plays += int(line.split(b",")[4])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert tail == b""
    return chunks, rows, plays, peak


async def test_the_csv_is_streamed_with_flat_memory(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    """Over real HTTP the CSV arrives in many chunks, sums to the API's totals, and the peak
    memory of serving it (server and client share this process) does not grow with its size."""
    viewer = await create_user_and_token(services, Role.VIEWER)
    app = create_app(services=services)
    stores = 200
    peaks = []
    async with serve(app) as address:
        for days in (5, 50, 150):  # a warm-up (caches, imports), 10,000 rows, 30,000 rows
            await services.engine.dispose()  # the same connection-pool state for every run
            async with services.engine.begin() as conn:
                await conn.execute(text("TRUNCATE proof_of_play_aggregate_daily"))
            await insert_aggregate_grid(services, days, stores)
            chunks, rows, plays, peak = await stream_csv_over_tcp(f"http://{address}", viewer.token)
            assert rows == days * stores
            assert chunks >= rows // 2000  # at least one chunk per cursor batch
            api = await report(api_client, viewer.token, {})
            assert plays == api["totals"]["plays"] == days * stores * (stores + 1) // 2
            peaks.append(peak)
    # Three times the rows, not three times the memory.
    assert peaks[2] < 1.5 * peaks[1], peaks


async def test_the_csv_writes_no_campaign_as_an_empty_cell(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    await insert_aggregate_grid(services, 2, 3)
    viewer = await create_user_and_token(services, Role.VIEWER)
    _, rows, _ = await fetch_csv(api_client, viewer.token, {"group_by": "campaign"})
    assert rows == [
        {
            "campaign_id": "",
            "plays": "12",
            "completed": "12",
            "starts": "0",
            "total_duration_ms": "12000",
        }
    ]
