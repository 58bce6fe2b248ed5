"""Settings: defaults, list parsing, and refusals of configurations that weaken the service."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from pydantic import ValidationError
from token_service.config import PACKAGED_WEB_CLIENT_DIR, Settings

REQUIRED = {
    "livekit_url": "wss://livekit.example",
    "livekit_api_key": "key",
    "livekit_api_secret": "s" * 32,
}


def _settings(**overrides: Any) -> Settings:
    return Settings(**{**REQUIRED, **overrides})


def test_defaults(monkeypatch) -> None:
    for name in (
        "PORT",
        "AGENT_NAME",
        "CLINIC_IDS",
        "TOKEN_TTL_SECONDS",
        "TOKEN_SERVICE_API_KEYS",
        "CORS_ALLOW_ORIGINS",
        "TRUSTED_PROXY_CIDRS",
        "WEB_CLIENT_ENABLED",
        "WEB_CLIENT_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = _settings()
    assert settings.port == 8001
    assert settings.agent_name == "bright-smile-receptionist"
    assert settings.clinic_ids == ["bright-smile"]
    assert settings.token_ttl_seconds == 900
    assert settings.token_service_api_keys == []
    assert settings.cors_allow_origins == []
    assert settings.trusted_proxy_cidrs == []
    assert settings.web_client_enabled is True
    assert settings.web_client_path == PACKAGED_WEB_CLIENT_DIR


def test_comma_separated_lists_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("CLINIC_IDS", " north , south,north,")
    monkeypatch.setenv("TRUSTED_PROXY_CIDRS", "10.0.0.0/8, fd00::/8")
    monkeypatch.setenv("CORS_ALLOW_ORIGINS", "https://a.example,http://localhost:3000")
    monkeypatch.setenv("TOKEN_SERVICE_API_KEYS", f"{'k' * 16},{'z' * 16}")
    settings = Settings(**REQUIRED)
    assert settings.clinic_ids == ["north", "south"]
    assert settings.default_clinic_id == "north"
    assert settings.trusted_proxy_cidrs == [
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
    ]
    assert settings.cors_allow_origins == ["https://a.example", "http://localhost:3000"]
    assert [key.get_secret_value() for key in settings.token_service_api_keys] == [
        "k" * 16,
        "z" * 16,
    ]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"livekit_api_secret": "s" * 31}, "livekit_api_secret"),
        ({"livekit_url": "https://livekit.example"}, "livekit_url"),
        ({"livekit_url": "wss://"}, "livekit_url"),
        ({"token_ttl_seconds": 59}, "token_ttl_seconds"),
        ({"token_ttl_seconds": 3601}, "token_ttl_seconds"),
        ({"cors_allow_origins": "*"}, "cors_allow_origins"),
        ({"cors_allow_origins": "https://a.example/"}, "cors_allow_origins"),
        ({"cors_allow_origins": "a.example"}, "cors_allow_origins"),
        ({"token_service_api_keys": "short"}, "token_service_api_keys"),
        ({"clinic_ids": "Bad Clinic"}, "clinic_ids"),
        ({"clinic_ids": ""}, "clinic_ids"),
        ({"trusted_proxy_cidrs": "not-a-cidr"}, "trusted_proxy_cidrs"),
        ({"trusted_proxy_cidrs": "10.1.2.3/8"}, "trusted_proxy_cidrs"),
        ({"agent_name": "has space"}, "agent_name"),
        ({"rate_limit_requests": 0}, "rate_limit_requests"),
        ({"rate_limit_burst": 0}, "rate_limit_burst"),
        ({"rate_limit_window_seconds": 0}, "rate_limit_window_seconds"),
    ],
)
def test_weakening_or_broken_settings_are_refused(overrides, field) -> None:
    with pytest.raises(ValidationError) as refused:
        _settings(**overrides)
    assert [error["loc"][0] for error in refused.value.errors()] == [field]
