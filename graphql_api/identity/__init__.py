"""Console accounts: login, sessions, users."""

from graphql_api.domain import DomainSchema
from graphql_api.identity.schema import IdentityMutation, IdentityQuery

DOMAIN = DomainSchema(query=IdentityQuery, mutation=IdentityMutation)
