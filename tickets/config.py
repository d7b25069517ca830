"""All settings in one place, read from the environment (prefix ``TRIAGE_``) or a ``.env`` file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default="sqlite:///triage_desk.db",
        description="SQLAlchemy URL: sqlite:///FILE (default, one process) or postgresql+psycopg://...",
    )
    model_dir: Path | None = Field(default=None, description="Model folder; default: the shipped model")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    auto_close_after_hours: float = Field(
        default=72.0, gt=0, description="Resolved tickets close unconfirmed after this"
    )
    job_interval_seconds: float = Field(default=30.0, gt=0, description="How often the auto-close job runs")

    max_body_bytes: int = Field(default=64 * 1024, ge=1024, description="Larger request bodies get 413")
    max_text_chars: int = Field(default=5000, ge=10, description="Longest message text accepted")

    anonymous_inquiries_per_minute: int = Field(default=20, ge=1, description="Per client address, anonymous only")
    anonymous_burst: int = Field(default=10, ge=1)
    widget_secret: str | None = Field(
        default=None, min_length=16, description="Site secret for signed customer identities from the widget"
    )
    trust_forwarded_for: bool = Field(default=False, description="Take the client address from X-Forwarded-For")

    sla_policy_file: Path | None = Field(
        default=None, description="SLA policies (TOML); default: tickets/sla/policies.toml"
    )
    report_timezone: str = Field(default="Asia/Shanghai", description="Days of reports are local days here")
    sla_monitor_interval_seconds: float = Field(default=0.25, gt=0, le=10, description="SLA monitor poll period")

    @field_validator("report_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}, e.g. Asia/Shanghai") from exc
        return value

    @property
    def report_zone(self) -> ZoneInfo:
        return ZoneInfo(self.report_timezone)

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite://", "postgresql")):
            raise ValueError("TRIAGE_DATABASE_URL must be a sqlite:/// or postgresql+psycopg:// URL")
        if value.startswith("postgresql://"):
            value = "postgresql+psycopg://" + value.removeprefix("postgresql://")
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
