"""Success payloads shared by several domains."""

from __future__ import annotations

import uuid

import strawberry


@strawberry.type(description="The object was deleted; `id` is what it was.")
class DeleteSuccess:
    id: uuid.UUID
