"""The validation cache (`graphql_api.schema`): a document sent again is not validated again,
and what validation decided (limits, unknown fields, several unnamed operations) is decided
the same way every time, from the cache or not."""

from __future__ import annotations

import uuid

import httpx
from strawberry.extensions.validation_cache import _get_validate_cache

from core.bootstrap import Services
from core.db.enums import Role
from graphql_api.schema import DOCUMENT_CACHE_SIZE, MAX_ALIASES, MAX_DEPTH
from tests.graphql_api.helpers import create_user_and_token, error_codes, gql


def validations() -> tuple[int, int]:
    """(hits, misses) of the process's validation cache."""
    info = _get_validate_cache(DOCUMENT_CACHE_SIZE).cache_info()
    return info.hits, info.misses


async def test_a_repeated_document_is_validated_once(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    # A document this process has never seen (its name is new), sent three times.
    query = f"query Me{uuid.uuid4().hex} {{ me {{ id }} }}"
    hits, misses = validations()
    for _ in range(3):
        body = await gql(api_client, query, token=user.token)
        assert body["data"]["me"]["id"] == str(user.id), body
    after_hits, after_misses = validations()
    assert after_misses - misses == 1
    assert after_hits - hits == 2


async def test_cached_refusals_are_the_same_refusals(
    api_client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user_and_token(services, Role.VIEWER)
    nested = "id"
    for _ in range(MAX_DEPTH + 1):
        nested = f"store {{ {nested} }}"
    marker = uuid.uuid4().hex
    too_deep = f"query Deep{marker} {{ devices {{ nodes {{ {nested} }} }} }}"
    too_many = (
        f"query Aliases{marker} {{ "
        + " ".join(f"a{i}: me {{ id }}" for i in range(MAX_ALIASES + 1))
        + " }"
    )
    unknown = f"query Unknown{marker} {{ me {{ nope }} }}"
    two_unnamed = f"query A{marker} {{ me {{ id }} }} query B{marker} {{ me {{ id }} }}"
    for document, words in (
        (too_deep, "exceeds maximum operation depth"),
        (too_many, "aliases"),
        (unknown, "nope"),
        (two_unnamed, "operation name"),
    ):
        first = await gql(api_client, document, token=user.token)
        again = await gql(api_client, document, token=user.token)
        assert first["data"] is None and words in first["errors"][0]["message"], first
        assert again == first
        assert set(error_codes(again)) == {"VALIDATION_ERROR"}
