"""The console GraphQL schema, assembled from the domain packages.

Adding a domain: give it a `DOMAIN = DomainSchema(query=..., mutation=..., subscription=...)`
in its package `__init__`, then add ONE import line and ONE entry to `DOMAINS` below.

Protection (OWASP GraphQL cheat sheet): every argument passes `core.inputs` (see
graphql_api/input_rule.py); depth, alias and token limits on every operation, and
a document with several operations needs an operationName (GraphQL spec, GetOperation); in
production, introspection is disabled, "Did you mean" suggestions are cut from error messages
and unexpected errors are masked. Extensions are passed as classes or factories so each
operation gets fresh instances.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from graphql_api.audit import DOMAIN as audit
from graphql_api.content import DOMAIN as content
from graphql_api.document_rules import HideSuggestions, RequireOperationName
from graphql_api.domain import DomainSchema
from graphql_api.error_log import LoggedSchema
from graphql_api.errors import (
    ERROR_TYPES,
    EXCEPTION_HANDLERS,
    DomainErrorCodes,
    MaskUnexpectedErrors,
)
from graphql_api.fleet import DOMAIN as fleet
from graphql_api.identity import DOMAIN as identity
from graphql_api.input_rule import apply_input_rule
from graphql_api.metrics import OperationMetrics
from graphql_api.monitoring import DOMAIN as monitoring
from graphql_api.pairing import DOMAIN as pairing
from graphql_api.plans import DOMAIN as plans
from graphql_api.programming import DOMAIN as programming
from graphql_api.proof_of_play import DOMAIN as proof_of_play
from graphql_api.relay import MAX_PAGE_SIZE
from graphql_api.scalars import SCALAR_MAP

# --- domains: one import above and one entry here per domain ---------------------------------
DOMAINS: list[DomainSchema] = [
    identity,
    fleet,
    audit,
    proof_of_play,
    content,
    programming,
    monitoring,
    plans,
    pairing,
]

MAX_DEPTH = 10
MAX_ALIASES = 15
MAX_TOKENS = 2000
DOCUMENT_CACHE_SIZE = 512  # distinct documents; an LRU, so a flood of new ones only evicts


def _introspection_field(context: IgnoreContext) -> bool:
    # GraphiQL's introspection query is deeper than any real operation; it is disabled in
    # production, so it need not count against the depth limit in development.
    return context.field_name.startswith("__")


# The depth and alias limits as validation rules, built once: a rule class is part of the
# validation cache's key, and the limiter extensions would build new ones per request.
LIMIT_RULES = [
    *QueryDepthLimiter(max_depth=MAX_DEPTH, should_ignore=_introspection_field).validation_rules,
    *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
]


def _merged(name: str, parts: list[type | None]) -> type | None:
    present = tuple(part for part in parts if part is not None)
    return merge_types(name, present) if present else None


def build_schema(*, production: bool) -> strawberry.Schema:
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        OperationMetrics,  # first: it exits last and sees the final answer
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: AddValidationRules(LIMIT_RULES),
        # Validating a document costs more than running `{ me { id } }`, and a console sends
        # the same few documents over and over. The cache is keyed by everything validation
        # depends on (the schema, the document, the rules), so a cached answer is the
        # answer, errors included. (Parsing stays Strawberry's: its parse errors, e.g. the
        # token limit, keep their error codes.)
        lambda: ValidationCache(maxsize=DOCUMENT_CACHE_SIZE),
        RequireOperationName,
        DomainErrorCodes,
    ]
    if production:
        extensions += [DisableIntrospection, HideSuggestions, MaskUnexpectedErrors]
    query = _merged("Query", [d.query for d in DOMAINS])
    if query is None:
        raise RuntimeError("no domain contributes a query")
    mutation = _merged("Mutation", [d.mutation for d in DOMAINS])
    config = StrawberryConfig(relay_max_results=MAX_PAGE_SIZE, scalar_map=SCALAR_MAP)
    # Every argument of every query and mutation passes core.inputs before its resolver.
    apply_input_rule([query, mutation], config.name_converter)
    extra_types: list[Any] = [*ERROR_TYPES]
    for domain in DOMAINS:
        extra_types.extend(domain.types)
    return LoggedSchema(
        query=query,
        mutation=mutation,
        subscription=_merged("Subscription", [d.subscription for d in DOMAINS]),
        types=extra_types,
        extensions=extensions,
        exception_handlers=EXCEPTION_HANDLERS,
        config=config,
    )


# The development schema, for `strawberry export-schema graphql_api.schema:schema`. Apps build
# their own with `build_schema(production=...)` from their settings.
schema = build_schema(production=False)
