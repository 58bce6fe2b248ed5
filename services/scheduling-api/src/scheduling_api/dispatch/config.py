"""Settings of `scheduling-api dispatch`, the webhook dispatcher (all environment variables).

It shares the store settings' names with the API (same image, same ConfigMap).
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scheduling_api.config import PACKAGED_CLINICS

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Each field is the environment variable of the same name, upper-cased."""

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    redis_url: str = "redis://localhost:6379/0"
    """The store (the API's)."""
    redis_key_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,32}$")] = "sched"
    """The API's key prefix."""
    redis_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 5.0
    """Redis connect and command timeout."""
    clinics_config: Path = Field(
        default=PACKAGED_CLINICS,
        json_schema_extra={"doc_default": "the packaged `clinics/` folder"},
    )
    """The API's clinic YAML file or folder: whose outboxes to deliver."""
    dispatch_metrics_port: Annotated[int, Field(ge=1, le=65535)] = 9102
    """Port of the dispatcher's `/metrics`."""
    dispatch_poll_seconds: Annotated[float, Field(gt=0, le=60)] = 1.0
    """How often idle endpoints are checked for new events."""
    dispatch_timeout_seconds: Annotated[float, Field(gt=0, le=60)] = 10.0
    """The longest one delivery attempt may take (connect to last response byte)."""
    dispatch_retry_base_seconds: Annotated[float, Field(gt=0, le=3600)] = 5.0
    """Delay ceiling after the first failed attempt; it doubles per attempt (with jitter)."""
    dispatch_retry_max_delay_seconds: Annotated[float, Field(gt=0, le=86400)] = 3600.0
    """The longest wait between two attempts."""
    dispatch_retry_horizon_seconds: Annotated[float, Field(gt=0, le=7 * 86400)] = 86400.0
    """How long after the event an undelivered event is retried before it is dead-lettered
    (`GET …/webhooks/deliveries?status=failed`)."""
    dispatch_lease_seconds: Annotated[float, Field(ge=5, le=600)] = 60.0
    """How long a dispatcher holds an endpoint without renewing (another takes over after a
    crash). Must exceed `DISPATCH_TIMEOUT_SECONDS`."""
    dispatch_max_response_bytes: Annotated[int, Field(ge=0, le=1024 * 1024)] = 4096
    """At most this much of a receiver's response body is read."""
    dispatch_allowed_networks: Annotated[list[Network], NoDecode] = Field(
        default_factory=list, json_schema_extra={"doc_default": "none"}
    )
    """Comma-separated CIDRs a webhook may reach although they are private (e.g. a clinic
    backend inside the cluster); everything not public is refused otherwise."""
    dispatch_insecure_loopback: bool = False
    """Local development and tests only: allow `http://` and loopback receivers."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Log level."""

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("dispatch_allowed_networks", mode="before")
    @classmethod
    def _split_networks(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
