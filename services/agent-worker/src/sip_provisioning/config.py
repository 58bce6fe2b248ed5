"""Settings of `agent-worker-sip sync`, read from environment variables.

The LiveKit and scheduling API variables are the worker's own, so the sync runs with the
same environment (and, in the chart, the same Secret) as the worker.
"""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

REQUIRED: JsonDict = {"doc_default": "**required**"}


class Settings(BaseSettings):
    """`sip sync` configuration; each field is the env var of the same name, upper-cased."""

    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, use_attribute_docstrings=True
    )

    livekit_url: str = Field(default="", json_schema_extra=REQUIRED)
    """The LiveKit server (or LiveKit Cloud project) whose SIP trunks and rules are synced."""
    livekit_api_key: SecretStr = Field(default=SecretStr(""), json_schema_extra=REQUIRED)
    """The LiveKit API key (it needs the SIP admin grant, which project keys have)."""
    livekit_api_secret: SecretStr = Field(default=SecretStr(""), json_schema_extra=REQUIRED)
    """The LiveKit API secret."""
    agent_name: str = "bright-smile-receptionist"
    """The agent each call's room dispatches (the worker's `AGENT_NAME`)."""
    scheduling_api_url: str = "http://127.0.0.1:8000"
    """Where the clinics' phone lines are read (their profiles)."""
    scheduling_api_token: SecretStr = SecretStr("")
    """A bearer token for the scheduling API."""
    sip_wait_for_scheduling_api_seconds: float = Field(default=120.0, ge=0)
    """How long the sync waits for the scheduling API to answer (a chart hook may start
    before it is ready)."""
    sip_allowed_addresses: str = ""
    """Carrier addresses (IPs or CIDRs, comma-separated) allowed to send calls into the
    trunks, e.g. your Twilio or Telnyx signalling ranges."""
    sip_auth_username: str = ""
    """Digest auth user the carrier must present (with `SIP_AUTH_PASSWORD`)."""
    sip_auth_password: SecretStr = SecretStr("")
    """Digest auth password; keep it in a Secret."""

    @property
    def allowed_addresses(self) -> tuple[str, ...]:
        return tuple(part.strip() for part in self.sip_allowed_addresses.split(",") if part.strip())

    def missing(self) -> list[str]:
        """Required variables that are empty."""
        required = {
            "LIVEKIT_URL": self.livekit_url,
            "LIVEKIT_API_KEY": self.livekit_api_key.get_secret_value(),
            "LIVEKIT_API_SECRET": self.livekit_api_secret.get_secret_value(),
        }
        return [name for name, value in required.items() if not value]

    def access_problem(self) -> str | None:
        """Why the trunks would be open to anyone or half-configured, if they would."""
        password = self.sip_auth_password.get_secret_value()
        if bool(self.sip_auth_username) != bool(password):
            return "set both SIP_AUTH_USERNAME and SIP_AUTH_PASSWORD, or neither"
        if not self.allowed_addresses and not self.sip_auth_username:
            return (
                "set SIP_ALLOWED_ADDRESSES (your carrier's addresses) and/or "
                "SIP_AUTH_USERNAME + SIP_AUTH_PASSWORD: a trunk without either accepts "
                "calls from anyone"
            )
        return None
