"""`playlists(first: 50)` with nested items, content, versions and campaigns costs the same
number of SQL statements for 5 playlists as for 50: every nested field goes through a
per-request DataLoader (one IN query per kind), never one query per row."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import campaigns, content, content_versions, playlist_items, playlists
from tests.graphql_api.helpers import count_queries, create_user_and_token, gql_data

QUERY = """
query($first: Int!) {
  playlists(first: $first) {
    pageInfo { hasNextPage }
    nodes {
      name
      campaign { name brandName }
      items {
        weight followsLatest
        content { name type tags latestVersion { versionNumber } }
        version { versionNumber url sha256 bytes mime durationMs }
      }
    }
  }
}
"""


async def seed(services: Services, playlist_count: int) -> None:
    """Set-based inserts: each playlist gets a pinned item and a follow-latest item."""
    async with services.uow() as uow:
        conn = uow.conn
        campaign_id = (
            await conn.execute(
                sa.insert(campaigns)
                .values(
                    brand_name="Acme",
                    name="All",
                    start_date=date(2026, 1, 1),
                    end_date=date(2026, 12, 31),
                )
                .returning(campaigns.c.id)
            )
        ).scalar_one()
        content_rows = [
            {"id": uuid.uuid4(), "name": f"Item {n}", "type": "image", "tags": ["t"]}
            for n in range(playlist_count)
        ]
        await conn.execute(sa.insert(content), content_rows)
        version_rows = []
        for row in content_rows:
            for number in (1, 2):
                digest = hashlib.sha256(f"{row['id']}-{number}".encode()).hexdigest()
                version_rows.append(
                    {
                        "id": uuid.uuid4(),
                        "content_id": row["id"],
                        "version_number": number,
                        "version_hash": hashlib.sha256(digest.encode()).hexdigest(),
                        "storage_key": f"content/{row['id']}/{digest}.png",
                        "url": f"http://edge.test/v1/device/content/{digest}.png",
                        "sha256": digest,
                        "bytes": 1000,
                        "mime": "image/png",
                        "duration_ms": 5000,
                    }
                )
        await conn.execute(sa.insert(content_versions), version_rows)
        playlist_rows = [
            {"id": uuid.uuid4(), "name": f"Playlist {n:03d}", "campaign_id": campaign_id}
            for n in range(playlist_count)
        ]
        await conn.execute(sa.insert(playlists), playlist_rows)
        item_rows = []
        for n, playlist in enumerate(playlist_rows):
            first_version = version_rows[2 * n]
            item_rows.append(
                {
                    "playlist_id": playlist["id"],
                    "content_id": first_version["content_id"],
                    "content_version_id": first_version["id"],
                    "order_index": 0,
                }
            )
            item_rows.append(
                {
                    "playlist_id": playlist["id"],
                    "content_id": content_rows[(n + 1) % playlist_count]["id"],
                    "content_version_id": None,
                    "order_index": 1,
                }
            )
        await conn.execute(sa.insert(playlist_items), item_rows)
        await uow.commit()


async def count_for(api_client: httpx.AsyncClient, services: Services, token: str) -> int:
    with count_queries(services) as counter:
        data = await gql_data(api_client, QUERY, {"first": 50}, token=token)
    nodes = data["playlists"]["nodes"]
    for node in nodes:
        assert node["campaign"]["name"] == "All"
        pinned, latest = node["items"]
        assert (pinned["followsLatest"], pinned["version"]["versionNumber"]) == (False, 1)
        assert (latest["followsLatest"], latest["version"]["versionNumber"]) == (True, 2)
        assert latest["content"]["latestVersion"]["versionNumber"] == 2
    return counter.count


async def test_nested_playlists_cost_a_constant_number_of_queries(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    await seed(services, 5)
    small = await count_for(api_client, services, user.token)
    await seed(services, 45)
    large = await count_for(api_client, services, user.token)
    data = await gql_data(api_client, QUERY, {"first": 50}, token=user.token)
    assert len(data["playlists"]["nodes"]) == 50
    assert large == small, (small, large)
    # page + items + content + pinned versions + latest versions + campaigns (+ auth).
    assert small <= 7, small
