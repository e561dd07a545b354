"""The fuzzing gate: schemathesis against the device edge's OpenAPI document (with a device
token) and against the admin API's GraphQL schema (with an admin token), NUL bytes allowed.

The test starts the stack itself: the real edge and admin API under uvicorn on free local
ports, on this test's PostgreSQL database and Redis prefix. Schemathesis runs as its own
process (its CLI), so its requests are real HTTP from outside. The gate is 0 server errors
and 0 `INTERNAL_ERROR`/`internal_error` answers (`schemathesis_hooks.no_internal_error`).

The number of examples per operation and the seed are fixed, so a run is bounded in time
and repeatable; `FUZZ_MAX_EXAMPLES` sets both counts (higher for a longer local hunt).
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from core.bootstrap import Services
from core.db.enums import Role
from device_edge.app import create_app as create_edge
from graphql_api.app import create_app as create_api
from tests.device_edge.conftest import create_placement, pair
from tests.graphql_api.helpers import create_user_and_token, serve

pytestmark = [pytest.mark.slow, pytest.mark.long]

ROOT = Path(__file__).resolve().parents[2]
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# Per operation. The edge has 9 operations and the hot ones take free-form text, so it gets
# more: at 400 the run on the old code found the NUL heartbeat 500, at 150 it did not.
EDGE_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "400"))
GRAPHQL_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "80"))
SEED = int(os.environ.get("FUZZ_SEED", "20261204"))
TIME_LIMIT_S = 600


async def _schemathesis(
    location: str,
    token: str,
    report: Path,
    *,
    checks: str,
    max_examples: int,
    extra: tuple[str, ...] = (),
) -> tuple[int, str]:
    """Run the schemathesis CLI; returns its exit code and output."""
    env = dict(os.environ)
    env["SCHEMATHESIS_HOOKS"] = "tests.fuzz.schemathesis_hooks"
    env["PYTHONPATH"] = str(ROOT)
    process = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS),
        "run",
        location,
        "--checks",
        checks,
        "--header",
        f"Authorization: Bearer {token}",
        "--generation-allow-x00",
        "true",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--workers",
        "2",
        "--request-timeout",
        "30",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(report),
        *extra,
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), TIME_LIMIT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, output.decode(errors="replace")


async def test_device_edge_openapi_has_no_server_errors(services: Services, tmp_path: Path) -> None:
    edge = create_edge(services=services)
    async with serve(edge) as host:
        import httpx

        async with httpx.AsyncClient(base_url=f"http://{host}") as client:
            device = await pair(client, services, await create_placement(services))
        code, output = await _schemathesis(
            f"http://{host}/v1/device/openapi.json",
            device.access_token,
            tmp_path,
            checks="not_a_server_error,no_internal_error",
            max_examples=EDGE_EXAMPLES,
        )
    assert code == 0, output[-20000:]
    assert "No issues found" in output or " passed" in output, output[-5000:]


async def test_graphql_schema_has_no_server_errors(services: Services, tmp_path: Path) -> None:
    admin = await create_user_and_token(services, Role.ADMIN)
    api = create_api(services=services)
    async with serve(api) as host:
        code, output = await _schemathesis(
            f"http://{host}/graphql",
            admin.token,
            tmp_path,
            checks="no_graphql_server_error",
            max_examples=GRAPHQL_EXAMPLES,
            # logout revokes the fuzzer's own token; the rest would then be unauthenticated.
            extra=("--exclude-name", "Mutation.logout"),
        )
    assert code == 0, output[-20000:]
