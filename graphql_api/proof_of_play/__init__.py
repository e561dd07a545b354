"""Reports: the proof-of-play report query, and its CSV export route (`csv_export.routes`)."""

from graphql_api.domain import DomainSchema
from graphql_api.proof_of_play.queries import ReportsQuery

DOMAIN = DomainSchema(query=ReportsQuery)
