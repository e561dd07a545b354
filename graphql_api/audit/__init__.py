"""The audit log."""

from graphql_api.audit.schema import AuditQuery
from graphql_api.domain import DomainSchema

DOMAIN = DomainSchema(query=AuditQuery)
