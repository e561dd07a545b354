"""Object storage for content bytes: a local directory (embedded) or S3, behind one interface."""

from core.storage.base import ObjectStorage, StoredObject, UploadTarget
from core.storage.factory import create_storage
from core.storage.keys import content_object_key, validate_key
from core.storage.local import LocalStorage
from core.storage.s3 import S3Storage
from core.storage.signing import UploadSignatureInvalid, UploadSigner, UploadUrlExpired

__all__ = [
    "LocalStorage",
    "ObjectStorage",
    "S3Storage",
    "StoredObject",
    "UploadSignatureInvalid",
    "UploadSigner",
    "UploadTarget",
    "UploadUrlExpired",
    "content_object_key",
    "create_storage",
    "validate_key",
]
