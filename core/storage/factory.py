"""Choosing the storage backend from settings: the only place that knows both exist."""

from __future__ import annotations

from core.config import Settings, StorageBackend
from core.storage.base import ObjectStorage
from core.storage.local import LocalStorage
from core.storage.s3 import S3Storage


def create_storage(settings: Settings) -> ObjectStorage:
    """The configured backend. S3 buckets are not created here: call `ensure_bucket()` from
    dev tooling, since production buckets are provisioned (and permissioned) by operators."""
    if settings.storage_backend is StorageBackend.S3:
        return S3Storage.from_settings(settings)
    return LocalStorage.from_settings(settings)
