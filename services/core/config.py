"""Settings, read from the environment once and validated at start."""

import re
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_SECRET = "dev-insecure-secret-change-me-before-production"  # noqa: S105 - the value refused outside development

_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
}


DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./backstride.db"


def async_url(url: str) -> str:
    """Accept plain `postgresql://` / `sqlite://` URLs and pick the async driver."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError("DATABASE_URL must look like postgresql+asyncpg://... or sqlite+aiosqlite:///...")
    base = scheme.split("+", 1)[0]
    if base not in _DRIVERS:
        raise ValueError("DATABASE_URL must be a PostgreSQL or SQLite URL")
    return f"{_DRIVERS[base]}://{rest}"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    environment: Literal["development", "test", "production"] = Field(
        default="development", validation_alias="BACKSTRIDE_ENV"
    )
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: SecretStr = SecretStr(DEV_SECRET)
    # Connections per process, kept open; requests beyond it wait for one. SQLite ignores it.
    db_pool_size: int = Field(default=20, ge=1, le=200)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # How long an API process trusts a key it has looked up; a revocation reaches other
    # processes within this time (0: look the key up on every request).
    key_cache_seconds: float = Field(default=5, ge=0, le=300)
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)
    # Failed logins before each further one delays the next attempt (doubling, up to the ceiling):
    # per account from one address, per address, per account from anywhere (accounts/throttle.py).
    login_free_failures: int = Field(default=5, ge=1)
    login_free_failures_per_address: int = Field(default=20, ge=1)
    login_free_failures_per_account: int = Field(default=50, ge=1)
    login_max_delay_seconds: int = Field(default=900, ge=1)
    # Password checks (argon2) at once per API process, and how many may wait; more are refused (429).
    login_hash_slots: int = Field(default=2, ge=1)
    login_hash_queue: int = Field(default=16, ge=0)
    # Abuse limits, per API process: intakes per publishable key and client address.
    rate_limit_intakes_per_minute: int = Field(default=30, ge=1)
    # Export worker: how long a claimed item is held, how often and how patiently it is retried.
    export_lease_seconds: float = Field(default=60, gt=0)
    export_max_attempts: int = Field(default=8, ge=1)
    export_retry_base_seconds: float = Field(default=2, gt=0)
    export_retry_max_seconds: float = Field(default=600, gt=0)
    export_http_timeout_seconds: float = Field(default=10, gt=0)
    export_batch_size: int = Field(default=32, ge=1, le=500)
    # Transactions one worker has in flight at one receiving server; the rest of a batch waits.
    export_receiver_concurrency: int = Field(default=8, ge=1, le=500)
    export_poll_seconds: float = Field(default=1, gt=0)
    # Notifier (services/notifications/worker.py): polling, lease, retries, the overdue scan.
    notify_poll_seconds: float = Field(default=1, gt=0)
    notify_lease_seconds: float = Field(default=60, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1)
    notify_retry_base_seconds: float = Field(default=2, gt=0)
    notify_retry_max_seconds: float = Field(default=600, gt=0)
    notify_batch_size: int = Field(default=16, ge=1, le=500)
    notify_overdue_scan_seconds: float = Field(default=60, gt=0)
    # How often the open queue page checks for new and changed referrals (0: only when reloaded).
    ui_poll_seconds: float = Field(default=10, ge=0, le=600)
    # Outgoing e-mail (invitations, notifications). Without SMTP_HOST no e-mail is sent.
    smtp_host: str | None = None
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "Backstride <backstride@localhost>"
    smtp_timeout_seconds: float = Field(default=10, gt=0)
    # Entries per transaction: Medplum refuses a transaction of conditional requests longer than 8,
    # so a larger Bundle goes in parts (export/fhir/transaction.py).
    export_transaction_max_entries: int = Field(default=8, ge=2, le=1000)
    # The service's public address (scheme://host[:port]), for links it gives out (/fhir/metadata,
    # FHIR search pages) instead of whatever Host header a request carried.
    public_base_url: str = "http://127.0.0.1:8000"
    # Interactive API docs at /docs and /redoc: on by default outside production.
    docs: bool | None = None
    # In production /metrics needs `Authorization: Bearer <METRICS_TOKEN>`; unset, it is not served.
    metrics_token: SecretStr | None = None
    # Networks (CIDR, comma-separated) that calls on a clinic's behalf may reach though they are not
    # public, e.g. an EHR on the hospital's private network. Empty: public addresses only.
    outbound_allowed_networks: str = ""
    # Re-triage open referrals under the deployed ruleset before serving (SPEC §5a).
    retriage_on_startup: bool = True

    @field_validator("public_base_url")
    @classmethod
    def _origin_only(cls, url: str) -> str:
        if not re.fullmatch(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?/?", url):
            raise ValueError("PUBLIC_BASE_URL is scheme://host[:port]")
        return url.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, url: str) -> str:
        return async_url(url)

    @model_validator(mode="after")
    def _refuse_default_secret(self) -> "Settings":
        # PostgreSQL means a real deployment even if BACKSTRIDE_ENV was forgotten: tokens signed
        # with the published development secret could be forged by anyone.
        secret = self.secret_key.get_secret_value()
        serious = self.environment != "development" or not self.is_sqlite
        if serious and (secret == DEV_SECRET or len(secret) < 32):
            raise ValueError(
                "SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development and whenever the database is PostgreSQL"
            )
        return self

    @property
    def docs_enabled(self) -> bool:
        return self.docs if self.docs is not None else self.environment != "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    return Settings()
