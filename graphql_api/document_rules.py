"""Two rules on documents and their errors that Strawberry does not enforce by itself.

- `RequireOperationName`: the GraphQL spec's GetOperation says a document with several
  operations needs an `operationName`. Strawberry picks the first operation instead and runs
  it, so a client (or a proxy that drops the name) would silently run the wrong one. The
  document is refused as a validation error, before anything runs, over HTTP and websocket.
- `HideSuggestions` (production): graphql-core's "Did you mean 'x'?" hints spell out the
  schema, which production hides (introspection is off). Strawberry's own
  `disable_field_suggestions` only covers unknown fields; these messages also come from unknown
  arguments, enum values, input fields and types, at validation and at variable coercion, so
  the hint is cut from every error that reaches a client (logs keep the original message).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from strawberry.extensions import MaskErrors, SchemaExtension

MULTIPLE_OPERATIONS = "Must provide operation name if query contains multiple operations."
# graphql-core's pyutils.did_you_mean: " Did you mean [sub message] 'a', 'b', or 'c'?"
_SUGGESTION = re.compile(r"\s*Did you mean [^?]*\?")


class RequireOperationName(SchemaExtension):
    def __init__(self) -> None:
        self._named = False

    def on_operation(self) -> Iterator[None]:
        # Once the document is parsed, `operation_name` falls back to the first operation's
        # name; before parsing it is exactly what the request provided.
        context = self.execution_context
        self._named = context.graphql_document is not None or context.operation_name is not None
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        # `not`: no errors yet, whether validation has not run (None) or the validation
        # cache has already answered (an empty list).
        if not self._named and document is not None and not context.pre_execution_errors:
            operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
            if len(operations) > 1:
                # Set before validation runs, so Strawberry reports it and executes nothing.
                context.pre_execution_errors = [GraphQLError(MULTIPLE_OPERATIONS, operations)]
        yield


def has_suggestion(error: GraphQLError) -> bool:
    return "Did you mean" in error.message


class HideSuggestions(MaskErrors):
    """MaskErrors' plumbing (HTTP results and every streamed websocket result), but instead of
    replacing the error it only cuts the suggestion from its message."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=has_suggestion)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        error.message = _SUGGESTION.sub("", error.message).rstrip()
        return error
