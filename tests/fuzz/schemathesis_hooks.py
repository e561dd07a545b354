"""Schemathesis checks for the fuzzing gate (loaded through SCHEMATHESIS_HOOKS).

The edge: `not_a_server_error` sees 5xx statuses; `no_internal_error` also refuses the
catch-all's `internal_error` body, whatever its status.

GraphQL: schemathesis' own `not_a_server_error` guesses, from markers it knows, whether a
top-level error was the client's fault; ours labels every error with `extensions.code`
(`INVALID_TOKEN`, `VALIDATION_ERROR`, ...), so the gate reads the label instead: a 5xx, an
error without a code, or `INTERNAL_ERROR` is a server error.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis


@schemathesis.check
def no_internal_error(ctx: Any, response: Any, case: Any) -> bool | None:
    body = response.content or b""
    if response.status_code >= 500 or b'"internal_error"' in body:
        raise AssertionError(f"server error {response.status_code}: {body[:500]!r}")
    return None


@schemathesis.check
def no_graphql_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    body = response.content or b""
    if response.status_code >= 500:
        raise AssertionError(f"server error {response.status_code}: {body[:500]!r}")
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise AssertionError(f"answer is not JSON: {body[:500]!r}") from exc
    errors = payload.get("errors") if isinstance(payload, dict) else None
    for error in errors or ():
        code = (error.get("extensions") or {}).get("code")
        if not code or code == "INTERNAL_ERROR":
            raise AssertionError(f"unexpected GraphQL error: {json.dumps(error)[:500]}")
    return None
