"""`schema.graphql` is exported from the code and must stay in step with it (CI check)."""

from __future__ import annotations

from pathlib import Path

from graphql_api.schema import schema

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema.graphql"


def test_schema_file_matches_the_code() -> None:
    exported = schema.as_str() + "\n"
    assert SCHEMA_FILE.read_text(encoding="utf-8") == exported, (
        "schema.graphql is stale: run "
        "`.venv/bin/strawberry export-schema graphql_api.schema:schema > schema.graphql`"
    )
