"""`signage create-admin` against a real, migrated database, and `signage check-config`.

Every command runs in a fresh interpreter, as an operator would run it, with an environment
holding only the settings the test gives.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import pytest
from sqlalchemy import func, select, text

from core.config import Settings
from core.db.engine import create_engine
from core.db.tables import audit_log, users
from core.identity.passwords import verify_password
from ops.cli.main import parse_args
from ops.cli.processes import process_argv
from tests.conftest import TEST_JWT_KEYS, TEST_STORAGE_SIGNING_SECRET
from tests.stack.support import clean_env, free_port, run_cli

STRONG_ENV = {
    "SIGNAGE_ENV": "production",
    "DATABASE_URL": "postgresql://signage:pw@db.internal:5432/signage",
    "REDIS_URL": "redis://:pw@redis.internal:6379/0",
    "JWT_KEYS": '{"2026-01": "a-real-signing-secret-0123456789abcdef"}',
    "JWT_ACTIVE_KID": "2026-01",
    "STORAGE_SIGNING_SECRET": "a-real-storage-signing-secret-0123456789",
}


async def user_rows(database_url: str) -> list[Any]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(select(users).order_by(users.c.email))).all())
    finally:
        await engine.dispose()


async def audit_count(database_url: str, action: str) -> int:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            query = select(func.count()).where(audit_log.c.action == action)
            return int(await conn.scalar(query) or 0)
    finally:
        await engine.dispose()


# SIGNAGE_ENV=test refuses the built-in secrets, as production does.
TEST_SECRETS = {
    "JWT_KEYS": TEST_JWT_KEYS,
    "JWT_ACTIVE_KID": "k1",
    "STORAGE_SIGNING_SECRET": TEST_STORAGE_SIGNING_SECRET,
}


def cli_env(database_url: str) -> dict[str, str]:
    return clean_env({"SIGNAGE_ENV": "test", "DATABASE_URL": database_url, **TEST_SECRETS})


async def test_create_admin_stores_an_argon2_hash_and_audits(
    fresh_database: str, tmp_path: Path
) -> None:
    result = run_cli(
        "create-admin",
        "--email",
        "  Ops.Lead@Example.COM ",
        "--password-stdin",
        env=cli_env(fresh_database),
        cwd=tmp_path,
        stdin="correct horse battery staple\n",
    )
    assert result.returncode == 0, result.stderr
    assert "ops.lead@example.com" in result.stdout

    [user] = await user_rows(fresh_database)
    assert user.email == "ops.lead@example.com"
    assert user.role == "ADMIN"
    assert not user.disabled
    assert user.password_hash.startswith("$argon2id$")
    assert verify_password(user.password_hash, "correct horse battery staple")
    assert await audit_count(fresh_database, "user.create") == 1


async def test_create_admin_refuses_an_existing_email_in_any_case(
    fresh_database: str, tmp_path: Path
) -> None:
    env = cli_env(fresh_database)
    first = run_cli(
        "create-admin",
        "--email",
        "a@example.com",
        "--password",
        "first-pass-1",
        env=env,
        cwd=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    again = run_cli(
        "create-admin",
        "--email",
        "A@EXAMPLE.com",
        "--password",
        "second-pass-2",
        env=env,
        cwd=tmp_path,
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr

    [user] = await user_rows(fresh_database)
    assert verify_password(user.password_hash, "first-pass-1")
    assert await audit_count(fresh_database, "user.create") == 1


async def test_create_admin_with_another_role(fresh_database: str, tmp_path: Path) -> None:
    result = run_cli(
        "create-admin",
        "--email",
        "viewer@example.com",
        "--password",
        "viewer-pass-1",
        "--role",
        "VIEWER",
        env=cli_env(fresh_database),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    [user] = await user_rows(fresh_database)
    assert user.role == "VIEWER"


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("--email", "x@example.com", "--password", "short"), None, "at least 8"),
        (("--email", "not-an-email", "--password", "long-enough-1"), None, "not a valid email"),
        (("--email", "x@example.com", "--password-stdin"), "\n", "at least 8"),
        (("--email", "x@example.com"), "", "no password"),
    ],
)
async def test_create_admin_rejects_bad_input_without_writing(
    fresh_database: str, tmp_path: Path, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = run_cli("create-admin", *args, env=cli_env(fresh_database), cwd=tmp_path, stdin=stdin)
    assert result.returncode == 1
    assert message in result.stderr
    assert await user_rows(fresh_database) == []


def test_check_config_in_production_with_dev_secrets_names_every_reason(tmp_path: Path) -> None:
    result = run_cli("check-config", env=clean_env({"SIGNAGE_ENV": "production"}), cwd=tmp_path)
    assert result.returncode == 1
    for reason in (
        "DATABASE_URL is not set",
        "REDIS_URL is not set",
        "JWT_KEYS['dev'] is the built-in dev secret",
        "STORAGE_SIGNING_SECRET is the built-in dev secret",
    ):
        assert reason in result.stdout


def test_check_config_names_a_weak_key_and_missing_s3_credentials(tmp_path: Path) -> None:
    env = clean_env({**STRONG_ENV, "JWT_KEYS": '{"2026-01": "too-short"}', "STORAGE_BACKEND": "s3"})
    result = run_cli("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 1
    assert "JWT_KEYS['2026-01'] is shorter than 32 characters" in result.stdout
    assert "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY" in result.stdout
    assert "DATABASE_URL" not in result.stdout


def test_check_config_accepts_real_production_settings(tmp_path: Path) -> None:
    result = run_cli("check-config", env=clean_env(STRONG_ENV), cwd=tmp_path)
    assert result.returncode == 0, result.stdout
    assert "safe for production" in result.stdout


def test_check_config_in_dev_mode_reports_but_succeeds(tmp_path: Path) -> None:
    result = run_cli("check-config", env=clean_env({"SIGNAGE_ENV": "dev"}), cwd=tmp_path)
    assert result.returncode == 0
    assert "unsafe for production" in result.stdout
    assert "JWT_KEYS['dev'] is the built-in dev secret" in result.stdout


@pytest.mark.parametrize("command", ["up", "api", "worker", "migrate"])
def test_commands_refuse_production_with_dev_secrets(tmp_path: Path, command: str) -> None:
    env = clean_env({"SIGNAGE_ENV": "production", "SIGNAGE_DATA_DIR": str(tmp_path / "d")})
    result = run_cli(command, env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "refusing to start in production" in result.stderr
    assert "JWT_KEYS['dev']" in result.stderr
    assert not (tmp_path / "d").exists()  # nothing was started


def test_invalid_settings_exit_2_with_the_reason(tmp_path: Path) -> None:
    env = clean_env({"JWT_KEYS": '{"a": "x"}', "JWT_ACTIVE_KID": "b"})
    result = run_cli("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "JWT_ACTIVE_KID 'b' is not a key in JWT_KEYS" in result.stderr


def test_run_one_process_needs_urls(tmp_path: Path) -> None:
    result = run_cli("worker", env=clean_env({"SIGNAGE_ENV": "dev"}), cwd=tmp_path)
    assert result.returncode == 2
    assert "DATABASE_URL and REDIS_URL must be set" in result.stderr


async def table_names(database_url: str) -> set[str]:
    engine = create_engine(database_url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            )
            return {row[0] for row in rows}
    finally:
        await engine.dispose()


async def test_migrate_down_to_base_and_back_up(fresh_database: str, tmp_path: Path) -> None:
    env = cli_env(fresh_database)
    assert "users" in await table_names(fresh_database)

    down = run_cli("migrate", "--downgrade", "base", env=env, cwd=tmp_path)
    assert down.returncode == 0, down.stderr
    assert await table_names(fresh_database) <= {"alembic_version"}

    up = run_cli("migrate", env=env, cwd=tmp_path)
    assert up.returncode == 0, up.stderr
    assert {"users", "devices", "proof_of_play_events", "schedules"} <= await table_names(
        fresh_database
    )


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["api", "--workers", "4"], ["--workers", "4"]),
        (["worker", "--processes", "2", "--threads", "8"], ["--processes", "2", "--threads", "8"]),
        (["edge", "--", "--log-level", "debug"], ["--log-level", "debug"]),
        (["scheduler"], []),
    ],
)
def test_single_process_commands_pass_their_arguments_on(argv: list[str], extra: list[str]) -> None:
    args = parse_args(argv)
    assert args.kind == argv[0] and args.extra == extra
    command = process_argv(args.kind, Settings.model_validate({"API_PORT": "9100"}), args.extra)
    assert command[0] == sys.executable
    assert command[len(command) - len(extra) :] == extra


def test_process_command_lines() -> None:
    settings = Settings.model_validate({"API_HOST": "0.0.0.0", "API_PORT": "9100"})
    api = " ".join(process_argv("api", settings))
    assert "-m uvicorn --factory graphql_api.app:create_app --host 0.0.0.0 --port 9100" in api
    assert "--lifespan on" in api
    edge = " ".join(process_argv("edge", settings))
    assert "device_edge.app:create_app --host 127.0.0.1 --port 8001" in edge
    assert process_argv("worker", settings)[1:] == ["-m", "workers.dramatiq_main", "workers.actors"]
    assert process_argv("scheduler", settings)[1:] == ["-m", "workers.scheduler"]


def test_other_commands_refuse_unknown_arguments(tmp_path: Path) -> None:
    result = run_cli("migrate", "--bogus", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "unrecognized arguments: --bogus" in result.stderr


@pytest.mark.slow
def test_signage_api_replaces_itself_with_the_server(
    fresh_database: str, service_urls: Any, tmp_path: Path
) -> None:
    port = free_port()
    env = clean_env(
        {
            "SIGNAGE_ENV": "test",
            "DATABASE_URL": fresh_database,
            "REDIS_URL": service_urls.redis,
            "API_PORT": str(port),
            **TEST_SECRETS,
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "api", "--no-access-log"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        status = 0
        while status != 200:
            assert process.poll() is None and time.monotonic() < deadline
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    status = r.status
            except OSError:
                time.sleep(0.3)
        # exec, not a child: the process we started *is* uvicorn, so signals reach it directly.
        assert "uvicorn" in " ".join(psutil.Process(process.pid).cmdline())
        assert psutil.Process(process.pid).children() == []
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) in (0, -signal.SIGTERM)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
