"""The proof-of-play report query, read from the daily aggregates."""

from __future__ import annotations

import strawberry

from core.proof_of_play.reports import DEFAULT_ROW_LIMIT, parse_group_by, read_report
from graphql_api.context import AppInfo
from graphql_api.permissions import CanRead
from graphql_api.proof_of_play.types import (
    ProofOfPlayFilter,
    ProofOfPlayGroupBy,
    ProofOfPlayReport,
    ProofOfPlayRow,
    ProofOfPlayTotals,
)


@strawberry.type
class ReportsQuery:
    @strawberry.field(
        permission_classes=[CanRead],
        description=(
            "Plays, completions, starts and played time from the store-local daily aggregates, "
            "grouped by any of day, store, content and campaign (none: one total row). A play "
            f"is a PLAY_END event. At most `limit` rows (max {DEFAULT_ROW_LIMIT}); totals "
            "always cover the whole filter. GET /v1/admin/reports/proof-of-play.csv exports "
            "every row with the same filter."
        ),
    )
    async def proof_of_play_report(
        self,
        info: AppInfo,
        filter: ProofOfPlayFilter,
        group_by: list[ProofOfPlayGroupBy] | None = None,
        limit: int = DEFAULT_ROW_LIMIT,
    ) -> ProofOfPlayReport:
        dimensions = parse_group_by([g.value for g in group_by or []])
        result = await read_report(
            info.context.services.engine,
            info.context.require_actor(),
            filter.to_core(),
            dimensions,
            limit=limit,
        )
        return ProofOfPlayReport(
            rows=[ProofOfPlayRow.from_core(row) for row in result.rows],
            totals=ProofOfPlayTotals.from_core(result.totals),
            truncated=result.truncated,
        )
