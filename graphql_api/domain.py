"""What each domain contributes to the schema; `graphql_api/schema.py` merges them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DomainSchema:
    """A domain's root types (Strawberry types whose fields get merged into Query, Mutation and
    Subscription) and any extra types only reachable through interfaces or unions."""

    query: type | None = None
    mutation: type | None = None
    subscription: type | None = None
    types: tuple[type, ...] = ()
