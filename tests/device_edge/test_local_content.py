"""Embedded mode: plans point players at the edge, which must serve the stored bytes."""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

import httpx

from core.bootstrap import Services


async def test_edge_serves_what_the_plan_url_points_at(
    services: Services, edge_client: httpx.AsyncClient
) -> None:
    data = b"\x89PNG demo bytes"
    digest = hashlib.sha256(data).hexdigest()
    key = f"content/demo/{digest}.png"
    await services.storage.put_bytes(
        key, data, sha256=digest, size=len(data), content_type="image/png"
    )
    url = services.storage.public_url(key)

    response = await edge_client.get(urlsplit(url).path)
    assert response.status_code == 200
    assert response.content == data

    partial = await edge_client.get(urlsplit(url).path, headers={"Range": "bytes=0-3"})
    assert partial.status_code == 206
    assert partial.content == data[:4]

    missing = await edge_client.get("/v1/device/content/content/demo/nothing.png")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    document = (await edge_client.get("/v1/device/openapi.json")).json()
    assert "get" in document["paths"]["/v1/device/content/{key}"]
