"""What an upload must declare for its content type, checked before any URL is handed out.

Why these rules: players decide how to render from the content type, so the mime must agree
with it; stills and web pages have no natural length, so their display duration is required,
while a video's own length is used when none is given. Size limits keep one upload from
filling the bucket or a player's disk.
"""

from __future__ import annotations

import re

from core.db.enums import ContentType
from core.validation import FieldErrors

MIB = 1024 * 1024
MAX_BYTES: dict[ContentType, int] = {
    ContentType.VIDEO: 4096 * MIB,
    ContentType.IMAGE: 50 * MIB,
    ContentType.WEB: 20 * MIB,
}
MAX_DURATION_MS = 24 * 3600 * 1000
DURATION_REQUIRED = frozenset({ContentType.IMAGE, ContentType.WEB})

_MIME = re.compile(r"^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def mime_matches(content_type: ContentType, mime: str) -> bool:
    if content_type is ContentType.WEB:
        return mime == "text/html"
    return mime.startswith(f"{content_type.value}/")


def check_mime(errors: FieldErrors, content_type: ContentType, raw: str) -> str:
    mime = raw.strip().lower()
    if not _MIME.match(mime):
        errors.add("mime", "invalid_format", "mime must look like type/subtype, without parameters")
    elif not mime_matches(content_type, mime):
        expected = "text/html" if content_type is ContentType.WEB else f"{content_type.value}/*"
        errors.add("mime", "invalid_choice", f"{content_type.value} content needs mime {expected}")
    return mime


def check_bytes(errors: FieldErrors, content_type: ContentType, size: int) -> None:
    limit = MAX_BYTES[content_type]
    if size <= 0:
        errors.add("bytes", "out_of_range", "bytes must be positive")
    elif size > limit:
        errors.add(
            "bytes", "out_of_range", f"{content_type.value} uploads are limited to {limit} B"
        )


def check_sha256(errors: FieldErrors, raw: str) -> str:
    digest = raw.strip().lower()
    if not _SHA256.match(digest):
        errors.add("sha256", "invalid_format", "sha256 must be 64 hexadecimal characters")
    return digest


def check_duration(
    errors: FieldErrors,
    content_type: ContentType,
    duration_ms: int | None,
    *,
    field_name: str = "durationMs",
) -> None:
    if duration_ms is None:
        if content_type in DURATION_REQUIRED:
            errors.add(field_name, "required", f"{content_type.value} content needs a duration")
    elif not 0 < duration_ms <= MAX_DURATION_MS:
        errors.add(field_name, "out_of_range", f"duration must be 1..{MAX_DURATION_MS} ms")
