"""Storage fixtures: a tmp-dir LocalStorage and an S3Storage against a real S3 HTTP server.

The S3 server is moto's server mode on 127.0.0.1 and a free port, started once per session;
each test gets its own bucket, created through `ensure_bucket()`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from core.config import Settings
from core.storage import LocalStorage, ObjectStorage, S3Storage

S3_PART_SIZE = 5 * 1024 * 1024  # the S3 minimum, so multipart paths run with small test data


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings for storage tests only: no database or Redis is involved here."""

    def make(**overrides: str) -> Settings:
        return Settings.model_validate(
            {
                "SIGNAGE_ENV": "test",
                "SIGNAGE_DATA_DIR": str(tmp_path / "data"),
                "PUBLIC_EDGE_URL": "http://edge.test",
                "PUBLIC_API_URL": "http://api.test",
                "STORAGE_SIGNING_SECRET": "test-storage-signing-secret-0123456789",
                **overrides,
            }
        )

    return make


@pytest.fixture
def local_storage(make_settings: SettingsFactory) -> LocalStorage:
    return LocalStorage.from_settings(make_settings())


@pytest.fixture
async def s3_storage(s3_endpoint: str) -> AsyncIterator[S3Storage]:
    storage = S3Storage(
        bucket=f"test-{uuid.uuid4().hex[:16]}",
        region="us-east-1",
        endpoint_url=s3_endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        part_size=S3_PART_SIZE,
    )
    await storage.ensure_bucket()
    yield storage
    await storage.aclose()


@pytest.fixture(params=["local", "s3"])
def storage(request: pytest.FixtureRequest) -> ObjectStorage:
    """Each contract test runs once per backend."""
    fixture_name = f"{request.param}_storage"
    backend: ObjectStorage = request.getfixturevalue(fixture_name)
    return backend
