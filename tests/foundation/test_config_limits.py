"""Configuration limits: service URLs never print their passwords; every environment but dev
refuses the built-in secrets; a short storage signing secret is unsafe for production."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.config import InsecureConfigError, Settings, get_settings
from tests.conftest import TEST_JWT_KEYS, TEST_STORAGE_SIGNING_SECRET
from tests.stack.support import clean_env, run_cli

DATABASE_URL = "postgresql://signage:Pg-Secret-Passw0rd-7x@db.internal:5432/signage"
REDIS_URL = "redis://:Rd-Secret-Passw0rd-3y@redis.internal:6379/0"
PASSWORDS = ("Pg-Secret-Passw0rd-7x", "Rd-Secret-Passw0rd-3y")
STRONG = {
    "JWT_KEYS": TEST_JWT_KEYS,
    "JWT_ACTIVE_KID": "k1",
    "STORAGE_SIGNING_SECRET": TEST_STORAGE_SIGNING_SECRET,
}


def test_service_urls_never_print_their_passwords() -> None:
    settings = Settings.model_validate({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
    dumped = settings.model_dump_json(by_alias=True)
    for text in (repr(settings), str(settings), dumped, settings.model_dump_json()):
        assert not [password for password in PASSWORDS if password in text], text
    # JSON shows where they point, without the password...
    assert json.loads(dumped)["DATABASE_URL"] == (
        "postgresql://signage:[redacted]@db.internal:5432/signage"
    )
    assert json.loads(dumped)["REDIS_URL"] == "redis://:[redacted]@redis.internal:6379/0"
    # ...while the code that connects still gets the real URL.
    assert (settings.database_url, settings.redis_url) == (DATABASE_URL, REDIS_URL)


@pytest.mark.parametrize("env", ["test", "production"])
def test_environments_other_than_dev_refuse_the_built_in_secrets(env: str) -> None:
    settings = Settings.model_validate(
        {"SIGNAGE_ENV": env, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL}
    )
    with pytest.raises(InsecureConfigError) as refused:
        settings.ensure_safe()
    message = str(refused.value)
    assert f"refusing to start in {env}" in message
    assert "JWT_KEYS['dev'] is the built-in dev secret" in message
    assert "STORAGE_SIGNING_SECRET is the built-in dev secret" in message
    # With secrets of its own, it starts; dev alone keeps the built-in defaults.
    Settings.model_validate(
        {"SIGNAGE_ENV": env, "DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL, **STRONG}
    ).ensure_safe()
    Settings.model_validate({"SIGNAGE_ENV": "dev"}).ensure_safe()


def test_processes_read_settings_through_the_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`get_settings()` is what the api, edge, worker and scheduler call at start."""
    monkeypatch.setenv("SIGNAGE_ENV", "test")
    for name in ("JWT_KEYS", "JWT_ACTIVE_KID", "STORAGE_SIGNING_SECRET"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(InsecureConfigError, match="refusing to start in test"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_a_short_storage_signing_secret_is_unsafe_for_production() -> None:
    settings = Settings.model_validate(
        {"SIGNAGE_ENV": "production", "STORAGE_SIGNING_SECRET": "only-20-characters!!"}
    )
    assert "STORAGE_SIGNING_SECRET is shorter than 32 characters" in settings.insecure_reasons()
    with pytest.raises(InsecureConfigError, match="shorter than 32 characters"):
        settings.ensure_safe()


def test_check_config_refuses_a_short_storage_signing_secret(tmp_path: Path) -> None:
    env = clean_env(
        {
            "SIGNAGE_ENV": "production",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            "JWT_KEYS": '{"2026-01": "a-real-signing-secret-0123456789abcdef"}',
            "JWT_ACTIVE_KID": "2026-01",
            "STORAGE_SIGNING_SECRET": "only-20-characters!!",
        }
    )
    result = run_cli("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert "STORAGE_SIGNING_SECRET is shorter than 32 characters" in result.stdout
    assert not [password for password in PASSWORDS if password in result.stdout]


def test_check_config_and_commands_refuse_built_in_secrets_in_test(tmp_path: Path) -> None:
    env = clean_env({"SIGNAGE_ENV": "test", "SIGNAGE_DATA_DIR": str(tmp_path / "d")})
    check = run_cli("check-config", env=env, cwd=tmp_path)
    assert check.returncode == 1
    assert "refusing to run in test" in check.stdout
    assert "JWT_KEYS['dev'] is the built-in dev secret" in check.stdout
    migrate = run_cli("migrate", env=env, cwd=tmp_path)
    assert migrate.returncode == 2
    assert "refusing to start in test" in migrate.stderr
    assert not (tmp_path / "d").exists()  # nothing was started


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"JWT_KEYS": '{"2026-01": "Jwt-Secret-Never-Printed-0123456789ab"'}, id="jwt"),
        pytest.param({"API_PORT": "Jwt-Secret-Never-Printed-0123456789ab"}, id="port"),
    ],
)
def test_an_unreadable_setting_is_named_without_its_value(
    tmp_path: Path, broken: dict[str, str]
) -> None:
    """pydantic's own message repeats the input; a malformed JWT_KEYS is itself a secret."""
    env = clean_env(
        {
            **STRONG,
            "SIGNAGE_ENV": "production",
            "DATABASE_URL": DATABASE_URL,
            "REDIS_URL": REDIS_URL,
            **broken,
        }
    )
    result = run_cli("check-config", env=env, cwd=tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "invalid configuration" in result.stderr
    output = result.stdout + result.stderr
    assert "Jwt-Secret-Never-Printed" not in output
    assert "Pg-Secret-Passw0rd-7x" not in output
