"""Settings read once from the environment.

Why pydantic-settings: one typed object, validated at start-up, with secrets that never print.
Outside dev mode the process refuses to start on default or missing secrets, so a forgotten
variable fails loudly at deploy time instead of silently signing tokens with a known key.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEV_JWT_SECRET = "dev-insecure-jwt-secret-change-me-0123456789"  # noqa: S105 - dev mode only
DEV_STORAGE_SECRET = "dev-insecure-storage-signing-secret-0123456"  # noqa: S105 - dev mode only


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"


class StorageBackend(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class InsecureConfigError(RuntimeError):
    """Raised at start-up when production settings still carry dev secrets."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    env: Environment = Field(default=Environment.DEV, alias="SIGNAGE_ENV")
    database_url: str | None = Field(default=None, alias="DATABASE_URL")
    redis_url: str | None = Field(default=None, alias="REDIS_URL")
    redis_key_prefix: str = Field(default="signage:", alias="REDIS_KEY_PREFIX")
    data_dir: Path = Field(default=Path(".data"), alias="SIGNAGE_DATA_DIR")

    api_host: str = Field(default="127.0.0.1", alias="API_HOST")
    api_port: int = Field(default=8000, alias="API_PORT")
    edge_host: str = Field(default="127.0.0.1", alias="EDGE_HOST")
    edge_port: int = Field(default=8001, alias="EDGE_PORT")
    public_edge_url: str = Field(default="http://127.0.0.1:8001", alias="PUBLIC_EDGE_URL")
    public_api_url: str = Field(default="http://127.0.0.1:8000", alias="PUBLIC_API_URL")

    storage_backend: StorageBackend = Field(default=StorageBackend.LOCAL, alias="STORAGE_BACKEND")
    storage_local_dir: Path | None = Field(default=None, alias="STORAGE_LOCAL_DIR")
    storage_signing_secret: SecretStr = Field(
        default=SecretStr(DEV_STORAGE_SECRET), alias="STORAGE_SIGNING_SECRET"
    )
    s3_endpoint_url: str | None = Field(default=None, alias="S3_ENDPOINT_URL")
    s3_bucket: str = Field(default="signage-content", alias="S3_BUCKET")
    s3_region: str = Field(default="us-east-1", alias="S3_REGION")
    s3_access_key_id: SecretStr | None = Field(default=None, alias="S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(default=None, alias="S3_SECRET_ACCESS_KEY")
    s3_public_base_url: str | None = Field(default=None, alias="S3_PUBLIC_BASE_URL")
    upload_url_ttl_s: int = Field(default=3600, alias="UPLOAD_URL_TTL_S", gt=0)

    # JSON object {kid: secret}; the active kid signs, every listed kid verifies (rotation).
    jwt_keys: dict[str, SecretStr] = Field(
        default_factory=lambda: {"dev": SecretStr(DEV_JWT_SECRET)}, alias="JWT_KEYS"
    )
    jwt_active_kid: str = Field(default="dev", alias="JWT_ACTIVE_KID")
    jwt_issuer: str = Field(default="alive-signage", alias="JWT_ISSUER")
    device_access_ttl_s: int = Field(default=900, alias="DEVICE_ACCESS_TTL_S", gt=0)
    device_refresh_ttl_s: int = Field(default=90 * 86400, alias="DEVICE_REFRESH_TTL_S", gt=0)
    # 0: strict rotation, any second use of a refresh token revokes the device. N > 0: a
    # player that lost the answer may retry within N seconds (core.devices.credentials).
    device_refresh_retry_grace_s: int = Field(
        default=0, alias="DEVICE_REFRESH_RETRY_GRACE_S", ge=0, le=300
    )
    console_access_ttl_s: int = Field(default=900, alias="CONSOLE_ACCESS_TTL_S", gt=0)
    console_refresh_ttl_s: int = Field(default=14 * 86400, alias="CONSOLE_REFRESH_TTL_S", gt=0)

    claim_ttl_s: int = Field(default=900, alias="CLAIM_TTL_S", gt=0)
    claim_poll_interval_s: int = Field(default=5, alias="CLAIM_POLL_INTERVAL_S", gt=0)
    pop_retention_days: int = Field(default=400, alias="POP_RETENTION_DAYS", gt=0)
    pop_clock_skew_s: int = Field(default=300, alias="POP_CLOCK_SKEW_S", gt=0)
    max_request_bytes: int = Field(default=1024 * 1024, alias="MAX_REQUEST_BYTES", gt=0)

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_json: bool = Field(default=False, alias="LOG_JSON")
    # Browser origins (the console's address) allowed to call the admin API from another
    # origin, comma-separated. Empty: same-origin only. No wildcard: tokens are at stake.
    console_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="CONSOLE_ORIGINS"
    )

    @field_validator("jwt_keys", mode="before")
    @classmethod
    def _parse_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value)
        return value

    @field_validator("console_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("console_origins")
    @classmethod
    def _check_origins(cls, origins: list[str]) -> list[str]:
        checked = []
        for origin in origins:
            parts = urlsplit(origin.rstrip("/"))
            if (
                parts.scheme not in ("http", "https")
                or not parts.hostname
                or parts.path
                or parts.query
                or parts.fragment
                or parts.username
            ):
                raise ValueError(
                    f"CONSOLE_ORIGINS entry {origin!r} is not an origin: "
                    "use scheme://host[:port], e.g. https://console.example.com"
                )
            checked.append(f"{parts.scheme}://{parts.netloc.lower()}")
        return checked

    @model_validator(mode="after")
    def _check_keys(self) -> Settings:
        if self.jwt_active_kid not in self.jwt_keys:
            raise ValueError(f"JWT_ACTIVE_KID {self.jwt_active_kid!r} is not a key in JWT_KEYS")
        return self

    @property
    def is_dev(self) -> bool:
        return self.env is not Environment.PRODUCTION

    @property
    def local_storage_dir(self) -> Path:
        return self.storage_local_dir or (self.data_dir / "storage")

    def insecure_reasons(self) -> list[str]:
        """Why these settings are unsafe for production (empty when they are fine)."""
        reasons: list[str] = []
        if not self.database_url:
            reasons.append("DATABASE_URL is not set")
        if not self.redis_url:
            reasons.append("REDIS_URL is not set")
        for kid, secret in self.jwt_keys.items():
            raw = secret.get_secret_value()
            if raw == DEV_JWT_SECRET:
                reasons.append(f"JWT_KEYS[{kid!r}] is the built-in dev secret")
            elif len(raw) < 32:
                reasons.append(f"JWT_KEYS[{kid!r}] is shorter than 32 characters")
        signing = self.storage_signing_secret.get_secret_value()
        if self.storage_backend is StorageBackend.LOCAL and signing == DEV_STORAGE_SECRET:
            reasons.append("STORAGE_SIGNING_SECRET is the built-in dev secret")
        if self.storage_backend is StorageBackend.S3 and not (
            self.s3_access_key_id and self.s3_secret_access_key
        ):
            reasons.append("S3 storage needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY")
        return reasons

    def ensure_safe(self) -> None:
        """Refuse to run production with dev or missing secrets, saying why."""
        if self.env is Environment.PRODUCTION:
            reasons = self.insecure_reasons()
            if reasons:
                raise InsecureConfigError("refusing to start in production: " + "; ".join(reasons))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = Settings()
    settings.ensure_safe()
    return settings
