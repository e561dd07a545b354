"""Settings read once from the environment.

Why pydantic-settings: one typed object, validated at start-up, with secrets that never print.
Outside dev mode the process refuses to start on default or missing secrets, so a forgotten
variable fails loudly at deploy time instead of silently signing tokens with a known key.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from core.logging import LEVELS
from core.redaction import mask_url_password

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
    """Raised at start-up when the settings carry secrets this environment refuses."""


class InvalidConfigError(ValueError):
    """Raised at start-up when a setting cannot be read. It names each setting and why, never
    the value: pydantic's own message repeats the input, and a malformed JWT_KEYS or URL is
    a secret."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    env: Environment = Field(default=Environment.DEV, alias="SIGNAGE_ENV")
    # Plain strings (every driver takes them as they are), but never printed with their
    # password: left out of repr/str, masked in JSON dumps (`_mask_urls`) and in log lines
    # (core.logging redacts URL passwords wherever they appear).
    database_url: str | None = Field(default=None, alias="DATABASE_URL", repr=False)
    redis_url: str | None = Field(default=None, alias="REDIS_URL", repr=False)
    redis_key_prefix: str = Field(default="signage:", alias="REDIS_KEY_PREFIX")
    # Bounded waits on the backends (core.db.engine.DbTimeouts, core.redis_client): a frozen
    # or unreachable server costs a request this long, then a 503 + Retry-After. The statement
    # bound does not apply to migrations and `signage pop-rebuild`.
    db_statement_timeout_ms: int = Field(
        default=15_000, alias="DB_STATEMENT_TIMEOUT_MS", ge=100, le=3_600_000
    )
    db_connect_timeout_s: float = Field(default=5.0, alias="DB_CONNECT_TIMEOUT_S", gt=0, le=300)
    db_pool_timeout_s: float = Field(default=5.0, alias="DB_POOL_TIMEOUT_S", gt=0, le=300)
    redis_timeout_s: float = Field(default=5.0, alias="REDIS_TIMEOUT_S", gt=0, le=300)
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
    # Open GraphQL websockets per api process (the console's live views): per signed-in user,
    # and per client address (counted before authentication). Excess ones close with 4429.
    ws_max_connections_per_user: int = Field(default=20, alias="WS_MAX_CONNECTIONS_PER_USER", gt=0)
    ws_max_connections_per_address: int = Field(
        default=100, alias="WS_MAX_CONNECTIONS_PER_ADDRESS", gt=0
    )

    claim_ttl_s: int = Field(default=900, alias="CLAIM_TTL_S", gt=0)
    claim_poll_interval_s: int = Field(default=5, alias="CLAIM_POLL_INTERVAL_S", gt=0)
    # Wrong claim codes per 15 minutes from all addresses together before pairing turns
    # strict (core.pairing.attempts): correct codes still pair, wrong ones answer 429.
    pairing_global_failure_limit: int = Field(
        default=100, alias="PAIRING_GLOBAL_FAILURE_LIMIT", gt=0
    )
    pop_retention_days: int = Field(default=400, alias="POP_RETENTION_DAYS", gt=0)
    pop_clock_skew_s: int = Field(default=300, alias="POP_CLOCK_SKEW_S", gt=0)
    # Players may stay offline for weeks: a month and some margin. Capped by retention, which
    # also keeps event ids (idempotency) for at least as long as any event can be backdated.
    pop_max_backdate_days: int = Field(default=35, alias="POP_MAX_BACKDATE_DAYS", gt=0)
    # Per device and minute; far above a real player (~10-100/min) yet not less than one batch.
    pop_device_events_per_minute: int = Field(
        default=10_000, alias="POP_DEVICE_EVENTS_PER_MINUTE", ge=1000
    )
    max_request_bytes: int = Field(default=1024 * 1024, alias="MAX_REQUEST_BYTES", gt=0)
    # Both HTTP servers (ops.cli.processes -> uvicorn, http_common.server): the request head
    # (request line and headers) in bytes, how long a client may take to send a request (head,
    # then body), how long an idle keep-alive connection stays open, and how many connections
    # and requests one server process serves at once before answering 503.
    http_max_header_bytes: int = Field(
        default=16 * 1024, alias="HTTP_MAX_HEADER_BYTES", ge=1024, le=1024 * 1024
    )
    http_request_timeout_s: int = Field(default=30, alias="HTTP_REQUEST_TIMEOUT_S", gt=0)
    http_keep_alive_timeout_s: int = Field(default=5, alias="HTTP_KEEP_ALIVE_TIMEOUT_S", gt=0)
    http_max_concurrency: int = Field(default=2000, alias="HTTP_MAX_CONCURRENCY", gt=0)
    # Strict-Transport-Security max-age, sent by an app only when its public URL is https.
    hsts_max_age_s: int = Field(default=31_536_000, alias="HSTS_MAX_AGE_S", ge=0)
    # The scheduler (workers.scheduler): its tick, the cap of its backoff while Redis is out of
    # reach, and how long a dead leader keeps the leader lock (well above the tick).
    scheduler_tick_s: float = Field(default=1.0, alias="SCHEDULER_TICK_S", gt=0, le=60)
    scheduler_retry_max_s: float = Field(default=30.0, alias="SCHEDULER_RETRY_MAX_S", gt=0)
    scheduler_leader_ttl_s: float = Field(default=15.0, alias="SCHEDULER_LEADER_TTL_S", gt=0)
    # Plan propagation (core.plans.outbox, core.plans.reconcile; docs/plans.md). A change not
    # done this long after its last hand-off is handed to the workers again (the relay runs
    # every PLAN_OUTBOX_RELAY_EVERY_S); every PLAN_RECONCILE_EVERY_S, PLAN_RECONCILE_DEVICES
    # more devices have their plan checked against their current inputs, so the whole fleet is
    # checked every ceil(devices / PLAN_RECONCILE_DEVICES) * PLAN_RECONCILE_EVERY_S.
    plan_outbox_relay_every_s: float = Field(
        default=30.0, alias="PLAN_OUTBOX_RELAY_EVERY_S", gt=0, le=3600
    )
    plan_outbox_redispatch_s: float = Field(
        default=120.0, alias="PLAN_OUTBOX_REDISPATCH_S", gt=0, le=86_400
    )
    plan_reconcile_every_s: float = Field(
        default=120.0, alias="PLAN_RECONCILE_EVERY_S", gt=0, le=86_400
    )
    plan_reconcile_devices: int = Field(
        default=20_000, alias="PLAN_RECONCILE_DEVICES", ge=100, le=10_000_000
    )
    # Prometheus metrics (telemetry, docs/metrics.md): each process kind opens a listener of
    # its own on METRICS_HOST (loopback by default: nothing leaves the host unless asked);
    # a port of 0 turns one off. METRICS_TOKEN, when set, is required as a bearer token by
    # every metrics endpoint; METRICS_PUBLIC also serves /metrics on the two public ports and
    # is refused without a token.
    metrics_enabled: bool = Field(default=True, alias="METRICS_ENABLED")
    metrics_host: str = Field(default="127.0.0.1", alias="METRICS_HOST", min_length=1)
    metrics_api_port: int = Field(default=9101, alias="METRICS_API_PORT", ge=0, le=65535)
    metrics_edge_port: int = Field(default=9102, alias="METRICS_EDGE_PORT", ge=0, le=65535)
    metrics_worker_port: int = Field(default=9103, alias="METRICS_WORKER_PORT", ge=0, le=65535)
    metrics_scheduler_port: int = Field(
        default=9104, alias="METRICS_SCHEDULER_PORT", ge=0, le=65535
    )
    metrics_public: bool = Field(default=False, alias="METRICS_PUBLIC")
    metrics_token: SecretStr | None = Field(default=None, alias="METRICS_TOKEN")

    log_level: str = Field(default="INFO", alias="LOG_LEVEL")
    log_json: bool = Field(default=False, alias="LOG_JSON")
    # Browser origins (the console's address) allowed to call the admin API from another
    # origin, comma-separated. Empty: same-origin only. No wildcard: tokens are at stake.
    console_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, alias="CONSOLE_ORIGINS"
    )
    # Reverse proxies (IPs or CIDRs, comma-separated) whose X-Forwarded-For both HTTP apps
    # believe (http_common.forwarded). Empty: X-Forwarded-For is ignored; the peer is the client.
    trusted_proxies: Annotated[list[IPv4Network | IPv6Network], NoDecode] = Field(
        default_factory=list, alias="TRUSTED_PROXIES"
    )

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in LEVELS:
            raise ValueError(f"LOG_LEVEL {value!r} is not one of {', '.join(LEVELS)}")
        return level

    @field_serializer("database_url", "redis_url", when_used="json")
    def _mask_urls(self, url: str | None) -> str | None:
        return mask_url_password(url)

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

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _parse_proxies(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        networks = []
        for part in (part.strip() for part in value.split(",")):
            if not part:
                continue
            try:
                networks.append(ip_network(part, strict=False))
            except ValueError:
                raise ValueError(
                    f"TRUSTED_PROXIES entry {part!r} is not an IP address or network: use "
                    "e.g. 10.0.0.5 or 10.0.0.0/8 (no wildcard: trusting every peer lets "
                    "any client choose its address)"
                ) from None
        return networks

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

    @model_validator(mode="after")
    def _check_metrics(self) -> Settings:
        token = self.metrics_token.get_secret_value() if self.metrics_token else ""
        if self.metrics_token is not None and len(token) < 16:
            raise ValueError("METRICS_TOKEN must be at least 16 characters")
        if self.metrics_public and not token:
            raise ValueError(
                "METRICS_PUBLIC=true serves /metrics on the public ports: set METRICS_TOKEN"
            )
        return self

    @property
    def is_dev(self) -> bool:
        return self.env is not Environment.PRODUCTION

    def metrics_port(self, kind: str) -> int:
        """The metrics listener's port of a process kind (api, edge, worker, scheduler); 0 when
        that kind has none."""
        ports = {
            "api": self.metrics_api_port,
            "edge": self.metrics_edge_port,
            "worker": self.metrics_worker_port,
            "scheduler": self.metrics_scheduler_port,
        }
        return ports[kind]

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
        reasons += self.builtin_secret_reasons()
        for kid, secret in self.jwt_keys.items():
            raw = secret.get_secret_value()
            if raw != DEV_JWT_SECRET and len(raw) < 32:
                reasons.append(f"JWT_KEYS[{kid!r}] is shorter than 32 characters")
        if len(self.storage_signing_secret.get_secret_value()) < 32:
            reasons.append("STORAGE_SIGNING_SECRET is shorter than 32 characters")
        if self.storage_backend is StorageBackend.S3 and not (
            self.s3_access_key_id and self.s3_secret_access_key
        ):
            reasons.append("S3 storage needs S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY")
        return reasons

    def builtin_secret_reasons(self) -> list[str]:
        """The built-in dev secrets still in use: published in this repository, so anyone can
        sign tokens or upload URLs with them."""
        reasons = [
            f"JWT_KEYS[{kid!r}] is the built-in dev secret"
            for kid, secret in self.jwt_keys.items()
            if secret.get_secret_value() == DEV_JWT_SECRET
        ]
        signing = self.storage_signing_secret.get_secret_value()
        if self.storage_backend is StorageBackend.LOCAL and signing == DEV_STORAGE_SECRET:
            reasons.append("STORAGE_SIGNING_SECRET is the built-in dev secret")
        return reasons

    def refusal_reasons(self) -> list[str]:
        """Why a process must not start with these settings: in production every unsafe
        setting; in any other environment but dev, the built-in secrets (a test or staging
        deployment reachable by others must not accept tokens signed with a public key)."""
        if self.env is Environment.PRODUCTION:
            return self.insecure_reasons()
        if self.env is Environment.DEV:
            return []
        return self.builtin_secret_reasons()

    def ensure_safe(self) -> None:
        """Refuse to start with the secrets `refusal_reasons` names, saying why."""
        reasons = self.refusal_reasons()
        if reasons:
            raise InsecureConfigError(
                f"refusing to start in {self.env.value}: " + "; ".join(reasons)
            )


def read_settings() -> Settings:
    """The settings from the environment (and `.env`), or InvalidConfigError."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = [
            f"  {'.'.join(str(part) for part in error['loc']) or 'settings'}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        raise InvalidConfigError("invalid configuration:\n" + "\n".join(problems)) from None
    except SettingsError as exc:
        # Raised before validation when a JSON-valued variable does not parse; its message
        # names the field, and `from None` keeps the decoder's excerpt out of any traceback.
        raise InvalidConfigError(f"invalid configuration:\n  {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    settings = read_settings()
    settings.ensure_safe()
    return settings
