"""GraphQL types of the proof-of-play report."""

from __future__ import annotations

import datetime
import uuid
from enum import Enum
from typing import TYPE_CHECKING

import strawberry

from core.proof_of_play.reports import GroupBy, ReportFilter, ReportRow, ReportTotals
from graphql_api.copying import copy_fields

# GraphQL's Int is 32-bit; durations summed over a campaign pass 2^31 ms within weeks.
if TYPE_CHECKING:
    BigInt = int
else:
    from graphql_api.scalars import BigInt


@strawberry.enum(description="A dimension to group proof-of-play rows by.")
class ProofOfPlayGroupBy(Enum):
    DAY = GroupBy.DAY.value
    STORE = GroupBy.STORE.value
    CONTENT = GroupBy.CONTENT.value
    CAMPAIGN = GroupBy.CAMPAIGN.value


@strawberry.input(description="Every given criterion must match; days are store-local.")
class ProofOfPlayFilter:
    campaign_ids: list[uuid.UUID] | None = None
    from_: datetime.date | None = strawberry.field(
        default=None, name="from", description="First store-local day, inclusive."
    )
    to: datetime.date | None = strawberry.field(
        default=None, description="Last store-local day, inclusive."
    )
    store_ids: list[uuid.UUID] | None = None
    content_ids: list[uuid.UUID] | None = None

    def to_core(self) -> ReportFilter:
        return ReportFilter(
            campaign_ids=self.campaign_ids,
            start=self.from_,
            end=self.to,
            store_ids=self.store_ids,
            content_ids=self.content_ids,
        )


@strawberry.type(
    description="One group. A dimension not grouped by is null; so are `storeId` for devices "
    "without a store and `campaignId` for plays outside any campaign."
)
class ProofOfPlayRow:
    day: datetime.date | None
    store_id: uuid.UUID | None
    content_id: uuid.UUID | None
    campaign_id: uuid.UUID | None
    plays: BigInt = strawberry.field(description="PLAY_END events.")
    completed: BigInt = strawberry.field(description="PLAY_END events with result COMPLETED.")
    starts: BigInt = strawberry.field(description="PLAY_START events.")
    total_duration_ms: BigInt = strawberry.field(description="Sum of PLAY_END durations.")

    @classmethod
    def from_core(cls, row: ReportRow) -> ProofOfPlayRow:
        return copy_fields(cls, row)


@strawberry.type(description="Sums over everything the filter matches (not only the rows shown).")
class ProofOfPlayTotals:
    plays: BigInt
    completed: BigInt
    starts: BigInt
    total_duration_ms: BigInt

    @classmethod
    def from_core(cls, totals: ReportTotals) -> ProofOfPlayTotals:
        return copy_fields(cls, totals)


@strawberry.type
class ProofOfPlayReport:
    rows: list[ProofOfPlayRow]
    totals: ProofOfPlayTotals
    truncated: bool = strawberry.field(
        description="More groups matched than `limit`; use the CSV export for all of them."
    )
