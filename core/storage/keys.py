"""Object keys and declared checksums: validated once, the same way for every backend.

Keys end up as file paths (local backend) and in URLs, so only a URL-safe charset is accepted and
no segment may start with a dot: that rules out `.`/`..` traversal and hidden files, and leaves
names starting with a dot free for the local backend's own temp directory.
"""

from __future__ import annotations

import mimetypes
import re
from uuid import UUID

from core.errors import ValidationFailed

MAX_KEY_LENGTH = 512
_SEGMENT = r"[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,127}"
_KEY_RE = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
_SHA256_RE = re.compile(r"[0-9a-fA-F]{64}")


def validate_key(key: str) -> str:
    """Return `key` unchanged if it is a safe relative object key, else raise ValidationFailed."""
    if not isinstance(key, str) or not key:
        raise ValidationFailed("object key must be a non-empty string", field="key")
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(
            f"object key is longer than {MAX_KEY_LENGTH} characters", field="key"
        )
    if _KEY_RE.fullmatch(key) is None:
        raise ValidationFailed(
            "object key must be '/'-separated segments of letters, digits, '_', '-', '.', "
            "not starting with '.'",
            field="key",
        )
    return key


def normalize_sha256(sha256: str) -> str:
    """Lower-case hex sha256, the form stored in the database; ValidationFailed otherwise."""
    if not isinstance(sha256, str) or _SHA256_RE.fullmatch(sha256) is None:
        raise ValidationFailed("sha256 must be 64 hexadecimal characters", field="sha256")
    return sha256.lower()


def validate_size(size: int, *, field: str = "size") -> int:
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValidationFailed(f"{field} must be a non-negative integer", field=field)
    return size


def content_object_key(content_id: UUID | str, sha256: str, mime: str) -> str:
    """The key for one content version: `content/<content id>/<sha256><ext>`.

    The extension matters in embedded mode: the local content route derives the Content-Type
    players receive from it. Including the sha256 makes keys unique per version's bytes.
    """
    extension = mimetypes.guess_extension(mime.split(";", 1)[0].strip().lower()) or ""
    return validate_key(f"content/{UUID(str(content_id))}/{normalize_sha256(sha256)}{extension}")
