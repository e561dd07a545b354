"""`GET /v1/admin/reports/proof-of-play.csv`: the proof-of-play report as a streamed CSV.

Same filters and grouping as the `proofOfPlayReport` query, so its rows sum to that query's
totals; unlike the query it returns every row. Query parameters:

    campaign_id, store_id, content_id   repeatable, or comma-separated uuids
    from, to                            store-local days (YYYY-MM-DD), inclusive
    group_by                            comma-separated: day, store, content, campaign

It needs a console access token (`Authorization: Bearer ...`) of a user allowed to read.
The body is produced batch by batch from a server-side cursor, so memory stays flat however
many rows match. Errors are JSON: `{"error": {"code", "message", "details"?}}`.
"""

from __future__ import annotations

import uuid
from datetime import date

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from core.bootstrap import Services
from core.errors import DomainError, Unauthenticated, ValidationFailed
from core.identity.sessions import authenticate
from core.inputs import MESSAGES, date_problem
from core.proof_of_play.reports import GroupBy, ReportFilter, export_report_csv, parse_group_by
from graphql_api.context import client_ip
from http_common.bearer import bearer_token
from http_common.error_envelope import domain_error_response

PATH = "/v1/admin/reports/proof-of-play.csv"


def _error(exc: DomainError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthenticated) else None
    return domain_error_response(exc, headers)


def _values(request: Request, name: str) -> list[str]:
    return [part.strip() for raw in request.query_params.getlist(name) for part in raw.split(",")]


def _ids(request: Request, name: str) -> list[uuid.UUID] | None:
    values = [v for v in _values(request, name) if v]
    if not values:
        return None
    try:
        return [uuid.UUID(v) for v in values]
    except ValueError:
        raise ValidationFailed(f"{name} must be uuids", field=name) from None


def _day(request: Request, name: str) -> date | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD)", field=name) from None
    # The same rule as the GraphQL `Date` arguments (graphql_api/input_rule.py).
    if problem := date_problem(day):
        raise ValidationFailed(
            MESSAGES[problem],
            field=name,
            errors=[{"field": name, "code": problem, "message": MESSAGES[problem]}],
        )
    return day


# A misspelt filter (`campaignId=` for `campaign_id=`) would otherwise be ignored and the
# export would silently cover every campaign: unknown parameters are refused instead.
PARAMETERS = frozenset({"campaign_id", "store_id", "content_id", "from", "to", "group_by"})


def parse_query(request: Request) -> tuple[ReportFilter, tuple[GroupBy, ...]]:
    if not PARAMETERS.issuperset(request.query_params):
        # The offending name is not echoed: it is the client's bytes, NUL included.
        message = f"unknown query parameter; the parameters are {', '.join(sorted(PARAMETERS))}"
        raise ValidationFailed(
            message,
            field="query",
            errors=[{"field": "query", "code": "unknown_parameter", "message": message}],
        )
    filters = ReportFilter(
        campaign_ids=_ids(request, "campaign_id"),
        start=_day(request, "from"),
        end=_day(request, "to"),
        store_ids=_ids(request, "store_id"),
        content_ids=_ids(request, "content_id"),
    )
    filters.validate()
    return filters, parse_group_by([g for g in _values(request, "group_by") if g])


async def export_proof_of_play_csv(request: Request) -> Response:
    services: Services = request.app.state.services
    try:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise Unauthenticated("send a console token as `Authorization: Bearer <token>`")
        actor = await authenticate(services, token, client_ip(request))
        filters, group_by = parse_query(request)
        rows = export_report_csv(services.engine, actor, filters, group_by)
    except DomainError as exc:
        return _error(exc)
    name = f"proof-of-play_{filters.start or 'start'}_{filters.end or 'end'}.csv"
    return StreamingResponse(
        rows,
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


routes = [Route(PATH, export_proof_of_play_csv, methods=["GET"])]
