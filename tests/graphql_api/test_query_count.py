"""N+1 guard: a page of devices with nested store, group, default playlist and its content
costs the same number of SQL statements for 5 devices as for 100."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from core.bootstrap import Services
from core.db.enums import Role
from core.db.tables import (
    content,
    content_versions,
    device_groups,
    devices,
    playlist_items,
    playlists,
    stores,
)
from tests.graphql_api.helpers import count_queries, create_user_and_token, gql_data

DEVICES = """
{
  devices(first: 100) {
    edges {
      cursor
      node {
        id name status lastSeenAt deviceInfo
        store { name timezone deviceCount openingHours { mon { open close } } }
        group {
          name deviceCount
          policy { heartbeatIntervalSeconds offlineThresholdSeconds storageCapBytes }
          defaultPlaylist {
            name
            items {
              orderIndex weight followsLatest
              content { name type tags }
              version { sha256 bytes mime durationMs }
            }
          }
        }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def _fleet(services: Services, n: int) -> None:
    """n devices, each with its own store, group, default playlist and two content items (one
    pinned to a version, one following the latest): the worst case for N+1 queries."""
    ids = [uuid.uuid4() for _ in range(n)]
    content_ids = [uuid.uuid4() for _ in range(2 * n)]
    version_ids = [uuid.uuid4() for _ in range(2 * n)]

    def sha(i: int) -> str:
        return hashlib.sha256(f"{ids[0]}-{i}".encode()).hexdigest()

    async with services.uow() as uow:
        conn = uow.conn
        await conn.execute(
            sa.insert(stores),
            [
                {
                    "id": i,
                    "name": f"Store {k}",
                    "timezone": "Europe/Berlin",
                    "operating_hours_json": {"mon": [{"open": "09:00", "close": "20:00"}]},
                }
                for k, i in enumerate(ids)
            ],
        )
        await conn.execute(
            sa.insert(playlists), [{"id": i, "name": f"Loop {k}"} for k, i in enumerate(ids)]
        )
        await conn.execute(
            sa.insert(device_groups),
            [
                {
                    "id": i,
                    "name": f"Group {k} {i.hex[:8]}",
                    "policy_json": {"heartbeat_interval_s": 60, "offline_threshold_s": 180},
                    "default_playlist_id": i,
                }
                for k, i in enumerate(ids)
            ],
        )
        await conn.execute(
            sa.insert(content),
            [{"id": c, "name": f"Clip {k}", "type": "video"} for k, c in enumerate(content_ids)],
        )
        await conn.execute(
            sa.insert(content_versions),
            [
                {
                    "id": v,
                    "content_id": c,
                    "version_number": 1,
                    "version_hash": sha(k),
                    "storage_key": f"k/{v}",
                    "url": f"http://cdn.test/{k}",
                    "sha256": sha(k),
                    "bytes": 1000 + k,
                    "mime": "video/mp4",
                    "duration_ms": 5000,
                }
                for k, (c, v) in enumerate(zip(content_ids, version_ids, strict=True))
            ],
        )
        items: list[dict[str, Any]] = []
        for k, playlist_id in enumerate(ids):
            items.append(
                {
                    "playlist_id": playlist_id,
                    "content_id": content_ids[2 * k],
                    "content_version_id": version_ids[2 * k],
                    "order_index": 0,
                }
            )
            items.append(
                {
                    "playlist_id": playlist_id,
                    "content_id": content_ids[2 * k + 1],
                    "content_version_id": None,  # follows the latest version
                    "order_index": 1,
                }
            )
        await conn.execute(sa.insert(playlist_items), items)
        await conn.execute(
            sa.insert(devices),
            [
                {"external_name": f"Screen {k}", "store_id": i, "group_id": i, "status": "online"}
                for k, i in enumerate(ids)
            ],
        )
        await uow.commit()


async def _count(client: httpx.AsyncClient, services: Services, token: str, n: int) -> int:
    with count_queries(services) as counter:
        data = await gql_data(client, DEVICES, token=token)
    edges = data["devices"]["edges"]
    assert len(edges) == n
    for edge in edges:
        group = edge["node"]["group"]
        assert group["defaultPlaylist"]["name"].startswith("Loop")
        versions = [item["version"]["sha256"] for item in group["defaultPlaylist"]["items"]]
        assert len(versions) == 2 and all(len(v) == 64 for v in versions)
        assert edge["node"]["store"]["deviceCount"] == 1
    return counter.count


async def test_devices_page_costs_constant_queries(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    await _fleet(services, 5)
    small = await _count(api_client, services, user.token, 5)

    async with services.uow() as uow:
        await uow.conn.execute(sa.delete(devices))
        await uow.commit()
    await _fleet(services, 100)
    large = await _count(api_client, services, user.token, 100)

    assert small == large, (small, large)
    # auth + page + one batch per loader (store, group, 2 counts, playlist, items, content,
    # versions, latest versions)
    assert large <= 12, large
