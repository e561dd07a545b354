"""Plans in the console: a device's current plan, previews, and explanations."""

from graphql_api.domain import DomainSchema
from graphql_api.plans.queries import PlanQuery

DOMAIN = DomainSchema(query=PlanQuery)
