"""docker-compose.yml and the Dockerfile against the settings class.

No Docker engine runs here, so these tests check what can drift silently: a renamed setting
that compose still sets under its old name, a production secret nobody provides, a service
without a health check, or a secret written into the file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from core.config import Environment, Settings, StorageBackend
from ops.cli.main import parse_args
from tests.stack.support import ROOT, SETTINGS_ALIASES

APP_SERVICES = ("api", "edge", "worker", "scheduler")
REQUIRED_SERVICES = ("postgres", "redis", "minio", *APP_SERVICES, "migrate")
HEALTHCHECKED = ("postgres", "redis", "minio", *APP_SERVICES)
SECRETS = (
    "DATABASE_URL",
    "REDIS_URL",
    "JWT_KEYS",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "STORAGE_SIGNING_SECRET",
)
_SUBSTITUTION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:?[?-])(?P<arg>[^}]*))?\}")

# Values a deployer would put in .env: strong enough to pass Settings.insecure_reasons().
DEPLOYER_ENV = {
    "POSTGRES_PASSWORD": "pg-password-0123456789",
    "REDIS_PASSWORD": "redis-password-0123456789",
    "MINIO_ROOT_USER": "signage",
    "MINIO_ROOT_PASSWORD": "minio-password-0123456789",
    "JWT_KEYS": '{"2026-01": "a-real-signing-secret-0123456789abcdef"}',
    "JWT_ACTIVE_KID": "2026-01",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    assert isinstance(loaded, dict)
    return loaded


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = compose["services"]
    assert isinstance(found, dict)
    return found


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):  # the "KEY=value" list form
        env = dict(item.split("=", 1) for item in env)
    return {str(key): str(value) for key, value in env.items()}


def substitute(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in env:
            return env[name]
        if op and op.endswith("?"):
            raise KeyError(f"compose would refuse to start: {arg}")
        return arg or ""

    return _SUBSTITUTION.sub(one, value)


def test_required_services_exist(compose: dict[str, Any]) -> None:
    missing = [name for name in REQUIRED_SERVICES if name not in services(compose)]
    assert not missing


@pytest.mark.parametrize("name", HEALTHCHECKED)
def test_long_running_services_have_healthchecks(compose: dict[str, Any], name: str) -> None:
    check = services(compose)[name].get("healthcheck")
    assert check and check.get("test"), f"{name} has no healthcheck"
    assert not check.get("disable", False)


@pytest.mark.parametrize("name", ("api", "edge"))
def test_http_healthchecks_probe_readyz(compose: dict[str, Any], name: str) -> None:
    service = services(compose)[name]
    port = "8000" if name == "api" else "8001"
    probe = " ".join(service["healthcheck"]["test"])
    assert f"{port}/readyz" in probe
    assert any(str(mapping).endswith(f":{port}") for mapping in service.get("ports", []))


@pytest.mark.parametrize("name", (*APP_SERVICES, "migrate"))
def test_app_services_set_only_real_settings(compose: dict[str, Any], name: str) -> None:
    unknown = set(environment(services(compose)[name])) - SETTINGS_ALIASES
    assert not unknown, f"{name} sets variables Settings does not read: {sorted(unknown)}"


@pytest.mark.parametrize("name", (*APP_SERVICES, "migrate"))
def test_app_services_run_from_the_dockerfile(compose: dict[str, Any], name: str) -> None:
    service = services(compose)[name]
    assert service.get("build") == "." or service.get("build", {}).get("context") == "."
    assert service["command"][0] == "signage"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_get_every_production_setting(compose: dict[str, Any], name: str) -> None:
    env = environment(services(compose)[name])
    for required in ("DATABASE_URL", "REDIS_URL", "JWT_KEYS", "JWT_ACTIVE_KID"):
        assert required in env, f"{name} lacks {required}"
    assert env["SIGNAGE_ENV"] == Environment.PRODUCTION.value
    assert env["STORAGE_BACKEND"] == StorageBackend.S3.value
    for s3 in ("S3_ENDPOINT_URL", "S3_BUCKET", "S3_ACCESS_KEY_ID", "S3_SECRET_ACCESS_KEY"):
        assert s3 in env, f"{name} lacks {s3}"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_settings_built_from_compose_are_production_safe(
    compose: dict[str, Any], name: str
) -> None:
    values = {
        key: substitute(value, DEPLOYER_ENV)
        for key, value in environment(services(compose)[name]).items()
    }
    settings = Settings.model_validate(values)
    assert settings.env is Environment.PRODUCTION
    assert settings.insecure_reasons() == []
    settings.ensure_safe()
    assert settings.database_url and "@postgres:5432/" in settings.database_url
    assert settings.redis_url and "@redis:6379" in settings.redis_url


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_refuses_to_start_without_secrets(compose: dict[str, Any], name: str) -> None:
    env = environment(services(compose)[name])
    for secret in ("DATABASE_URL", "REDIS_URL", "JWT_KEYS", "S3_SECRET_ACCESS_KEY"):
        with pytest.raises(KeyError, match="compose would refuse to start"):
            substitute(env[secret], {})


def test_no_secret_is_written_in_the_file(compose: dict[str, Any]) -> None:
    """Every secret, in every service, is a required ${VAR:?...} substitution."""
    sentinels = _AnyVariable()
    checked = 0
    for name, service in services(compose).items():
        for key, raw in environment(service).items():
            value = substitute(raw, sentinels)
            if key in ("DATABASE_URL", "REDIS_URL"):
                secret = urlsplit(value).password or ""
            elif key in SECRETS or "PASSWORD" in key or key.endswith("_AUTH"):
                secret = value
            else:
                continue
            checked += 1
            assert secret.startswith("sentinel:"), f"{name}.{key} holds a literal secret"
            variable = secret.removeprefix("sentinel:")
            assert re.search(rf"\$\{{{variable}:\?", raw), f"{name}.{key} has a default secret"
    assert checked >= 4 * len(APP_SERVICES)


class _AnyVariable(dict[str, str]):
    """Resolves every compose variable to a recognisable sentinel."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return f"sentinel:{key}"


def test_dockerfile_runs_as_non_root_with_settings_aliases() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.MULTILINE)
    users = re.findall(r"^USER\s+(\S+)", dockerfile, re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^CMD \["signage", "api"\]', dockerfile, re.MULTILINE)
    env_block = " ".join(re.findall(r"^ENV ((?:.*\\\n)*.*)$", dockerfile, re.MULTILINE))
    names = set(re.findall(r"([A-Z][A-Z0-9_]+)=", env_block))
    python_runtime = {name for name in names if name.startswith(("PYTHON", "PIP_"))}
    assert names - python_runtime <= SETTINGS_ALIASES, names - python_runtime - SETTINGS_ALIASES


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    assert {".venv", ".data", ".env", ".git"} <= ignored


def test_dockerfile_copies_what_signage_migrate_needs() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for needed in ("alembic.ini", "migrations", "core", "pyproject.toml", "README.md"):
        assert re.search(rf"^COPY .*\b{re.escape(needed)}\b", dockerfile, re.MULTILINE), needed
    assert Path(ROOT / "migrations" / "env.py").exists()


@pytest.mark.parametrize("name", (*APP_SERVICES, "migrate"))
def test_service_commands_are_valid_signage_commands(compose: dict[str, Any], name: str) -> None:
    command = services(compose)[name]["command"]
    args = parse_args(command[1:])
    assert args.command == ("migrate" if name == "migrate" else name)
