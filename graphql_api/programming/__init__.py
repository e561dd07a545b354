"""Programming: campaigns, playlists with their items, and schedules."""

from strawberry.tools import merge_types

from graphql_api.domain import DomainSchema
from graphql_api.programming.campaigns import CampaignMutation, CampaignQuery
from graphql_api.programming.playlists import PlaylistMutation, PlaylistQuery
from graphql_api.programming.schedules import ScheduleMutation, ScheduleQuery

DOMAIN = DomainSchema(
    query=merge_types("ProgrammingQuery", (CampaignQuery, PlaylistQuery, ScheduleQuery)),
    mutation=merge_types(
        "ProgrammingMutation", (CampaignMutation, PlaylistMutation, ScheduleMutation)
    ),
)
