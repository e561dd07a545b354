"""Signed upload URLs for the local backend: the embedded stand-in for an S3 presigned PUT.

The signature covers the key, the expiry and the declared size and sha256, so a leaked URL can
only ever store those exact bytes under that key until it expires. Verification compares in
constant time (`hmac.compare_digest`) and takes "now" from the caller's clock.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime

from core.errors import PermissionDenied

_VERSION = b"upload-v1"


class UploadSignatureInvalid(PermissionDenied):
    code = "upload_signature_invalid"


class UploadUrlExpired(PermissionDenied):
    code = "upload_url_expired"


@dataclass(frozen=True, slots=True)
class SignedUpload:
    """The signed fields of a local upload URL, as carried in its query string."""

    key: str
    expires: int  # unix seconds
    size: int
    sha256: str
    signature: str


class UploadSigner:
    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the upload signing secret must not be empty")
        self._secret = secret

    def sign(self, *, key: str, expires: int, size: int, sha256: str) -> str:
        # Newline-separated: validated keys and hex digests never contain a newline, so two
        # different field tuples can never produce the same message.
        message = b"\n".join(
            [_VERSION, key.encode(), str(expires).encode(), str(size).encode(), sha256.encode()]
        )
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def check(self, upload: SignedUpload, *, now: datetime) -> None:
        """Raise UploadSignatureInvalid or UploadUrlExpired unless the URL is genuine and live."""
        expected = self.sign(
            key=upload.key, expires=upload.expires, size=upload.size, sha256=upload.sha256
        )
        if not hmac.compare_digest(expected.encode(), upload.signature.encode()):
            raise UploadSignatureInvalid("the upload URL signature is not valid")
        if now.timestamp() >= upload.expires:
            raise UploadUrlExpired("the upload URL has expired; request a new upload")

    @staticmethod
    def parse(key: str, query: dict[str, str]) -> SignedUpload:
        """Read the signed fields from a query string; malformed ones count as a bad signature."""
        try:
            return SignedUpload(
                key=key,
                expires=int(query["expires"]),
                size=int(query["size"]),
                sha256=query["sha256"],
                signature=query["signature"],
            )
        except (KeyError, ValueError) as exc:
            raise UploadSignatureInvalid(
                "the upload URL needs expires, size, sha256 and signature parameters"
            ) from exc
