"""The console GraphQL schema, assembled from the domain modules."""

from __future__ import annotations

import strawberry


@strawberry.type
class Query:
    @strawberry.field(description="Liveness of the API; always true.")
    def ping(self) -> bool:
        return True


schema = strawberry.Schema(query=Query)
