"""Settings for the token service; every setting is an environment variable.

The service refuses to start on a setting that would weaken it silently (a short
LiveKit secret, a wildcard CORS origin, a short API key), so a misconfiguration shows
up at deploy time rather than as a quietly permissive front door.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from token_service.domain.client_address import IPNetwork
from token_service.domain.token_request import CLINIC_ID_PATTERN

MIN_SECRET_CHARS = 32
MIN_API_KEY_CHARS = 16
AGENT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
PACKAGED_WEB_CLIENT_DIR = Path(__file__).resolve().parent / "static"


def _split_csv(value: object) -> object:
    """Comma-separated env values become lists; blanks are dropped."""
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class Settings(BaseSettings):
    """Token service configuration, read from the environment.

    The field docstrings are the settings' documentation: `make docs` renders them into
    docs/configuration.md.
    """

    model_config = SettingsConfigDict(
        case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    host: str = "0.0.0.0"
    """The address it binds."""
    port: int = Field(default=8001, ge=1, le=65535)
    """The port it listens on."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """Log level."""

    livekit_url: str
    """The public `ws://`/`wss://` LiveKit URL, returned as `server_url`."""
    livekit_api_key: str = Field(min_length=1)
    """The key of the signing key pair."""
    livekit_api_secret: SecretStr
    """The secret of the signing key pair; 32+ characters."""

    agent_name: str = "bright-smile-receptionist"
    """The only agent a token dispatches."""
    clinic_ids: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["bright-smile"])
    """Comma-separated clinics served. The first is the default."""
    token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    """Token lifetime (60–3600)."""

    redis_url: str = "redis://127.0.0.1:6379/0"
    """Store for the shared rate limit."""
    redis_timeout_seconds: float = Field(default=0.5, gt=0, le=10)
    """How quickly a dead Redis becomes a 503."""

    rate_limit_requests: int = Field(default=10, ge=1)
    """Per client: this many requests per `RATE_LIMIT_WINDOW_SECONDS`, sustained."""
    rate_limit_window_seconds: float = Field(default=60.0, gt=0, le=86400)
    """The rate limit's window."""
    rate_limit_burst: int = Field(default=5, ge=1)
    """Per client: this many requests at once."""

    trusted_proxy_cidrs: Annotated[list[IPNetwork], NoDecode] = Field(default_factory=list)
    """Proxies whose `X-Forwarded-For` is believed (comma-separated CIDRs)."""
    cors_allow_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Exact origins allowed to call from a browser on another site (comma-separated)."""
    token_service_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, json_schema_extra={"doc_default": "empty (no key needed)"}
    )
    """Comma-separated bearer keys, each 16+ characters."""

    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    """How long a request's headers may take to arrive before a 408 and a closed socket."""
    http_body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    """How long a request's body may take, from the end of its headers."""

    web_client_enabled: bool = True
    """Serve the web client at `/`; turn it off where you host the page elsewhere."""
    web_client_dir: str = Field(
        default="", json_schema_extra={"doc_default": "the packaged `static/` folder"}
    )
    """Folder holding the built client (`make web` builds `web/dist`)."""

    # The dispatch watchdog (token_service.watchdog): LiveKit posts its webhooks to
    # /v1/livekit/webhook; the one leading replica dispatches the receptionist again for a
    # caller left alone, with backoff, until the retry window ends.
    dispatch_watchdog_enabled: bool = True
    """Run the dispatch watchdog and accept LiveKit's webhooks at `POST /v1/livekit/webhook`."""
    livekit_api_url: str = Field(
        default="", json_schema_extra={"doc_default": "`LIVEKIT_URL` as `http(s)://`"}
    )
    """The LiveKit server API the watchdog calls (ListParticipants, ListDispatch,
    CreateDispatch, UpdateRoomMetadata); set it to an in-cluster address."""
    dispatch_grace_seconds: float = Field(default=3.0, gt=0, le=60)
    """How long the normal dispatch gets before the watchdog looks. A caller still alone
    then is told "all our lines are busy" (within 5 s of joining)."""
    dispatch_retry_window_seconds: float = Field(default=45.0, gt=0, le=600)
    """Re-dispatches stop this long after the caller arrived; the room then shows
    `unavailable` and the page offers the clinic's number."""
    dispatch_backoff_initial_seconds: float = Field(default=1.0, gt=0, le=60)
    """First backoff between re-dispatches (doubling)."""
    dispatch_backoff_max_seconds: float = Field(default=8.0, gt=0, le=300)
    """Longest backoff between re-dispatches."""
    dispatch_watchdog_tick_seconds: float = Field(default=0.5, gt=0, le=10)
    """The leader's pass interval."""
    dispatch_leader_ttl_seconds: float = Field(default=5.0, gt=0, le=120)
    """How long a dead leader's lease blocks the other replicas."""
    dispatch_worker_silence_seconds: float = Field(default=4.0, gt=0, le=120)
    """An agent worker whose heartbeats (`POST /v1/dispatch/worker-heartbeat`, about one a
    second) stop this long is dead: its receptionists are removed and its calls resumed on
    another worker. LiveKit itself notices only after its ICE timeouts, ~20 s."""

    _split = field_validator(
        "clinic_ids",
        "cors_allow_origins",
        "token_service_api_keys",
        mode="before",
    )(_split_csv)

    @field_validator("livekit_url")
    @classmethod
    def _livekit_url_is_websocket(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"ws", "wss"} or not parts.hostname:
            raise ValueError("LIVEKIT_URL must be the public ws:// or wss:// URL of LiveKit")
        return value

    @field_validator("livekit_api_secret")
    @classmethod
    def _secret_is_long(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"LIVEKIT_API_SECRET must be at least {MIN_SECRET_CHARS} characters")
        return value

    @field_validator("agent_name")
    @classmethod
    def _agent_name_is_plain(cls, value: str) -> str:
        if not AGENT_NAME_PATTERN.fullmatch(value):
            raise ValueError("AGENT_NAME may contain only letters, digits, '_', '.', '-'")
        return value

    @field_validator("clinic_ids")
    @classmethod
    def _clinic_ids_are_slugs(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("CLINIC_IDS must name at least one clinic")
        for clinic_id in value:
            if not CLINIC_ID_PATTERN.fullmatch(clinic_id):
                raise ValueError(
                    f"CLINIC_IDS entry {clinic_id!r} must be lowercase letters, digits and '-'"
                )
        return list(dict.fromkeys(value))

    @field_validator("trusted_proxy_cidrs", mode="before")
    @classmethod
    def _parse_cidrs(cls, value: object) -> object:
        """Runs before the generic split: it splits and parses itself, for a clear error."""
        items = _split_csv(value)
        if not isinstance(items, list):
            return items
        networks = []
        for item in items:
            try:
                networks.append(ipaddress.ip_network(item))
            except ValueError as exc:
                raise ValueError(f"TRUSTED_PROXY_CIDRS entry {item!r}: {exc}") from exc
        return networks

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins_are_exact(cls, value: list[str]) -> list[str]:
        for origin in value:
            parts = urlsplit(origin)
            if (
                origin == "*"
                or parts.scheme not in {"http", "https"}
                or not parts.hostname
                or parts.path
                or parts.query
                or parts.fragment
            ):
                raise ValueError(
                    f"CORS_ALLOW_ORIGINS entry {origin!r} must be an exact origin such as "
                    "https://www.example.com (no wildcard, path or trailing slash)"
                )
        return value

    @field_validator("token_service_api_keys")
    @classmethod
    def _api_keys_are_long(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(key.get_secret_value()) < MIN_API_KEY_CHARS for key in value):
            raise ValueError(
                f"each TOKEN_SERVICE_API_KEYS entry must have {MIN_API_KEY_CHARS}+ characters"
            )
        return value

    @property
    def livekit_server_api_url(self) -> str:
        """LIVEKIT_API_URL, else LIVEKIT_URL with ws(s) turned into http(s)."""
        if self.livekit_api_url:
            return self.livekit_api_url
        return "http" + self.livekit_url.removeprefix("ws")

    @property
    def token_ttl(self) -> timedelta:
        return timedelta(seconds=self.token_ttl_seconds)

    @property
    def default_clinic_id(self) -> str:
        """A request without a clinic goes to the first configured clinic."""
        return self.clinic_ids[0]

    @property
    def web_client_path(self) -> Path:
        """Where the built web client lives: WEB_CLIENT_DIR, else the packaged `static/`."""
        return Path(self.web_client_dir) if self.web_client_dir else PACKAGED_WEB_CLIENT_DIR
