"""The console's side, over the public admin API: GraphQL calls and the CSV export.

Mutations answer a union of a success type and error types (`... on Error`); anything that
is not the expected success, and any top-level GraphQL error, stops the setup with a message
that names the mutation and the server's code.
"""

from __future__ import annotations

import csv
import io
import time
from dataclasses import dataclass
from typing import Any

import orjson

from simulator.stats import FleetStats
from simulator.transport import FleetHttp, timed_request

ERROR_FIELDS = "... on Error { __typename code message field }"
CSV_PATH = "/v1/admin/reports/proof-of-play.csv"


class ConsoleError(Exception):
    """The admin API refused or failed a call the simulator needs."""


@dataclass(frozen=True)
class PopTotals:
    plays: int
    completed: int
    starts: int
    total_duration_ms: int


class ConsoleClient:
    def __init__(
        self,
        client: FleetHttp,
        stats: FleetStats,
        api_url: str,
        *,
        email: str,
        password: str,
    ) -> None:
        self._client = client
        self._stats = stats
        self._base = api_url.rstrip("/")
        self._email = email
        self._password = password
        self._token: str | None = None
        self._token_due = 0.0

    async def execute(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """One GraphQL operation; returns `data`, raises on transport or GraphQL errors."""
        headers = {"Accept": "application/json"}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token}"
        response = await timed_request(
            self._client,
            self._stats,
            "admin/graphql",
            "POST",
            f"{self._base}/graphql",
            json_body={"query": query, "variables": variables or {}},
            headers=headers,
        )
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if not isinstance(body, dict):
            raise ConsoleError(f"GraphQL answered HTTP {response.status_code} without JSON")
        if body.get("errors"):
            first = body["errors"][0]
            code = (first.get("extensions") or {}).get("code")
            raise ConsoleError(f"GraphQL error {code}: {first.get('message')}")
        data = body.get("data")
        if not isinstance(data, dict):
            raise ConsoleError(f"GraphQL answered HTTP {response.status_code} without data")
        return data

    async def mutate(
        self, query: str, field: str, success: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """Run a mutation whose answer is `success | ...Error`; return the success object."""
        await self.ensure_login()
        result = (await self.execute(query, variables))[field]
        if not isinstance(result, dict) or result.get("__typename") != success:
            result = result if isinstance(result, dict) else {}
            raise ConsoleError(
                f"{field} failed: {result.get('__typename')} {result.get('code')} "
                f"{result.get('field') or ''} {result.get('message')}".strip()
            )
        return result

    async def login(self) -> None:
        self._token = None
        result = (
            await self.execute(
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) {"
                " __typename ... on AuthPayload { accessToken accessTokenExpiresAt }"
                f" {ERROR_FIELDS} }} }}",
                {"e": self._email, "p": self._password},
            )
        )["login"]
        if result.get("__typename") != "AuthPayload":
            raise ConsoleError(
                f"login as {self._email} failed: {result.get('code')} {result.get('message')}"
            )
        self._token = str(result["accessToken"])
        # Log in again well before the console token expires (15 min by default).
        self._token_due = time.monotonic() + 600

    async def ensure_login(self) -> None:
        if self._token is None or time.monotonic() >= self._token_due:
            await self.login()

    async def proof_of_play_totals(self, campaign_id: str) -> PopTotals:
        """The GraphQL report's totals for one campaign, over every day and store."""
        await self.ensure_login()
        data = await self.execute(
            "query($c: [UUID!]) { proofOfPlayReport(filter: {campaignIds: $c}, limit: 1) {"
            " totals { plays completed starts totalDurationMs } } }",
            {"c": [campaign_id]},
        )
        totals = data["proofOfPlayReport"]["totals"]
        return PopTotals(
            plays=int(totals["plays"]),
            completed=int(totals["completed"]),
            starts=int(totals["starts"]),
            total_duration_ms=int(totals["totalDurationMs"]),
        )

    async def csv_totals(self, campaign_id: str) -> PopTotals:
        """The CSV export for the same filter, grouped by day and content, summed here."""
        await self.ensure_login()
        response = await timed_request(
            self._client,
            self._stats,
            "admin/report.csv",
            "GET",
            f"{self._base}{CSV_PATH}",
            params={"campaign_id": campaign_id, "group_by": "day,store,content"},
            headers={"Authorization": f"Bearer {self._token}"},
        )
        if response.status_code != 200:
            raise ConsoleError(f"CSV export answered HTTP {response.status_code}")
        sums = {"plays": 0, "completed": 0, "starts": 0, "total_duration_ms": 0}
        for row in csv.DictReader(io.StringIO(response.content.decode("utf-8"))):
            for name in sums:
                sums[name] += int(row[name])
        return PopTotals(**sums)
