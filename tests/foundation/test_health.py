from __future__ import annotations

import httpx
from sqlalchemy import text

from core.bootstrap import Services


async def test_liveness_and_readiness_on_both_edges(
    api_client: httpx.AsyncClient, edge_client: httpx.AsyncClient
) -> None:
    for client in (api_client, edge_client):
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"postgres": "ok", "migrations": "ok", "redis": "ok"}


async def test_readiness_fails_when_migrations_are_behind(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    async with services.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version SET version_num = 'stale'"))
    ready = await api_client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"]["migrations"].startswith("at stale")
