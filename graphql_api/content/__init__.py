"""The content library: content items, immutable versions and the upload flow."""

from graphql_api.content.schema import ContentMutation, ContentQuery
from graphql_api.domain import DomainSchema

DOMAIN = DomainSchema(query=ContentQuery, mutation=ContentMutation)
