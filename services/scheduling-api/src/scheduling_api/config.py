"""Settings, all from environment variables (names are part of the deployment contract)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

PACKAGED_CLINICS = Path(__file__).resolve().parent / "clinics"
MIN_SLOT_SECRET_LENGTH = 16


class Settings(BaseSettings):
    """Each field is the environment variable of the same name, upper-cased.

    The docstrings are the settings' documentation: `make docs` renders them into
    docs/configuration.md.
    """

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    """The port it listens on."""
    host: str = "0.0.0.0"
    """The address it binds."""
    redis_url: str = "redis://localhost:6379/0"
    """The store."""
    redis_key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] = "sched"
    """Prefix for keys and channels, so it can share a Redis safely."""
    redis_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 2.0
    """Redis connect and command timeout."""
    clinics_config: Path = Field(
        default=PACKAGED_CLINICS,
        json_schema_extra={"doc_default": "the packaged `clinics/` folder"},
    )
    """A clinic YAML file, or a folder with one clinic per file."""
    scheduling_api_tokens: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, repr=False, json_schema_extra={"doc_default": "**required**"}
    )
    """Comma-separated bearer tokens accepted on `/v1`."""
    slot_id_secret: SecretStr | None = Field(
        default=None,
        repr=False,
        json_schema_extra={"doc_default": "**required**, 16+ characters"},
    )
    """HMAC key for slot ids. It must be the same on every replica."""
    scheduling_api_insecure_dev: bool = False
    """Local development only: with no tokens, auth is off, and each process gets a random
    slot secret."""
    min_notice_minutes: Annotated[int | None, Field(ge=0, le=7 * 24 * 60)] = Field(
        default=None, json_schema_extra={"doc_default": "the clinic's rule"}
    )
    """Overrides the minimum booking notice."""
    idempotency_ttl_seconds: Annotated[int, Field(ge=60)] = 24 * 3600
    """How long an `Idempotency-Key` is remembered."""
    availability_cache_seconds: Annotated[float, Field(ge=0, le=60)] = 2.0
    """The longest a cached bookings read is trusted; writes invalidate it at once through a
    change feed. `0` turns the cache off."""
    max_body_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    """The largest request body read; bigger ones, chunked included, get a 413."""
    http_header_timeout_seconds: Annotated[float, Field(gt=0, le=300)] = 10.0
    """How long a request's headers may take to arrive before a 408 and a closed socket."""
    http_body_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0
    """How long a request's body may take, from the end of its headers."""
    webhooks_insecure_loopback: bool = False
    """Local development and tests only: accept `http://` webhook URLs (the dispatcher's
    `DISPATCH_INSECURE_LOOPBACK` then lets them reach loopback only)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level."""
    access_log: bool = False
    """One JSON line per request (route template, status, duration, request id). Off by
    default: the latency histogram already counts every request by route and status,
    business events and errors are always logged with the request id, and the line costs
    about a quarter of availability's throughput."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("scheduling_api_tokens", mode="before")
    @classmethod
    def _split_tokens(cls, value: object) -> object:
        if isinstance(value, str):
            return [token.strip() for token in value.split(",") if token.strip()]
        return value

    @model_validator(mode="after")
    def _secure_unless_dev(self) -> Settings:
        """Refuse an open or unsigned deployment unless development mode is explicit."""
        if self.scheduling_api_insecure_dev:
            return self
        if not self.scheduling_api_tokens:
            raise ValueError(
                "SCHEDULING_API_TOKENS is empty: set one or more comma-separated bearer "
                "tokens (or SCHEDULING_API_INSECURE_DEV=true to run without auth locally)"
            )
        secret = self.slot_id_secret.get_secret_value() if self.slot_id_secret else ""
        if len(secret) < MIN_SLOT_SECRET_LENGTH:
            raise ValueError(
                f"SLOT_ID_SECRET must be at least {MIN_SLOT_SECRET_LENGTH} characters and the "
                "same on every replica (or SCHEDULING_API_INSECURE_DEV=true locally)"
            )
        return self

    @property
    def auth_enabled(self) -> bool:
        return bool(self.scheduling_api_tokens)

    def slot_secret_bytes(self) -> bytes:
        """The slot-signing key; a random one per process only in insecure dev mode."""
        if self.slot_id_secret and self.slot_id_secret.get_secret_value():
            return self.slot_id_secret.get_secret_value().encode()
        return secrets.token_bytes(32)
