"""Stores, device groups and devices."""

from graphql_api.domain import DomainSchema
from graphql_api.fleet.schema import FleetMutation, FleetQuery

DOMAIN = DomainSchema(query=FleetQuery, mutation=FleetMutation)
