"""Monitoring: incidents, the fleet overview and live status subscriptions."""

from graphql_api.domain import DomainSchema
from graphql_api.monitoring.schema import MonitoringMutation, MonitoringQuery
from graphql_api.monitoring.subscriptions import MonitoringSubscription

DOMAIN = DomainSchema(
    query=MonitoringQuery, mutation=MonitoringMutation, subscription=MonitoringSubscription
)
