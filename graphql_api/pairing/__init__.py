"""Pairing in the console: approve or deny screen codes, pre-assign installer codes."""

from graphql_api.domain import DomainSchema
from graphql_api.pairing.schema import PairingMutation, PairingQuery

DOMAIN = DomainSchema(query=PairingQuery, mutation=PairingMutation)
