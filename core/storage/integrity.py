"""The size and sha256 checks every write and verify goes through, shared by both backends."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from core.errors import IntegrityMismatch, PayloadTooLarge
from core.storage.keys import normalize_sha256, validate_key, validate_size


@dataclass(frozen=True, slots=True)
class Expected:
    """What the caller declared for one object; checks bytes against it as they arrive."""

    key: str
    sha256: str
    size: int
    max_bytes: int | None = None

    @classmethod
    def of(cls, key: str, *, sha256: str, size: int, max_bytes: int | None = None) -> Expected:
        expected = cls(
            key=validate_key(key),
            sha256=normalize_sha256(sha256),
            size=validate_size(size),
            max_bytes=None if max_bytes is None else validate_size(max_bytes, field="max_bytes"),
        )
        if expected.max_bytes is not None and expected.size > expected.max_bytes:
            raise PayloadTooLarge(
                f"declared size {size} exceeds the limit of {max_bytes} bytes",
                field="size",
                details={"limit": max_bytes},
            )
        return expected

    def check_progress(self, received: int) -> None:
        """Fail as soon as too many bytes arrived, so a huge body is never read to the end."""
        if self.max_bytes is not None and received > self.max_bytes:
            raise PayloadTooLarge(
                f"body exceeds the limit of {self.max_bytes} bytes",
                details={"limit": self.max_bytes},
            )
        if received > self.size:
            raise self._mismatch(f"received more than the declared {self.size} bytes", received)

    def check_complete(self, received: int, sha256: str | None) -> None:
        """`sha256` may be None when the size is already known to be wrong (not worth hashing)."""
        if received != self.size:
            raise self._mismatch(
                f"received {received} bytes, declared {self.size}", received, sha256
            )
        if sha256 != self.sha256:
            raise self._mismatch(
                "sha256 of the received bytes differs from the declared one", received, sha256
            )

    def check_bytes(self, data: bytes) -> None:
        self.check_progress(len(data))
        self.check_complete(len(data), hashlib.sha256(data).hexdigest())

    def _mismatch(
        self, message: str, received: int, sha256: str | None = None
    ) -> IntegrityMismatch:
        return IntegrityMismatch(
            message,
            field="sha256" if received == self.size else "size",
            details={
                "key": self.key,
                "expected_size": self.size,
                "actual_size": received,
                "expected_sha256": self.sha256,
                "actual_sha256": sha256,
            },
        )
