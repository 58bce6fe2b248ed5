"""The service as real processes: shared rate limit, Redis outage, logs, bad config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

TOKEN_SERVICE = str(Path(sys.executable).parent / "token-service")


def _post(base_url: str, **kwargs: object) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/token", timeout=5, **kwargs)  # type: ignore[arg-type]


def test_rate_limit_holds_across_two_replicas(services, token_env, metric) -> None:
    env = {
        **token_env,
        "RATE_LIMIT_REQUESTS": "4",
        "RATE_LIMIT_WINDOW_SECONDS": "60",
        "RATE_LIMIT_BURST": "4",
    }
    replicas = [
        services.start(["token-service"], name=f"token-service-{index}", env=env)
        for index in range(2)
    ]
    statuses = [_post(replicas[attempt % 2].base_url, json={}) for attempt in range(8)]

    assert [response.status_code for response in statuses] == [201] * 4 + [429] * 4
    for refused in statuses[4:]:
        assert refused.json()["error"] == "rate_limited"
        assert int(refused.headers["retry-after"]) >= 1
        assert "participant_token" not in refused.json()

    issued = limited = 0.0
    for replica in replicas:
        text = httpx.get(f"{replica.base_url}/metrics", timeout=5).text
        issued += metric(text, "token_service_tokens_total", 'outcome="issued"')
        limited += metric(text, "token_service_rate_limited_total")
        assert metric(text, "token_service_rate_limited_total") == 2
    assert (issued, limited) == (4, 4)


def test_forwarded_for_is_ours_to_interpret_not_uvicorns(services, token_env) -> None:
    """uvicorn trusts X-Forwarded-For from 127.0.0.1 by default; the service turns that off."""
    limits = {"RATE_LIMIT_REQUESTS": "1", "RATE_LIMIT_BURST": "2"}
    untrusting = services.start(["token-service"], name="untrusting", env={**token_env, **limits})
    spoofed = [
        _post(untrusting.base_url, json={}, headers={"x-forwarded-for": f"198.51.100.{i}"})
        for i in range(3)
    ]
    assert [response.status_code for response in spoofed] == [201, 201, 429]

    trusting = services.start(
        ["token-service"],
        name="trusting",
        env={**token_env, **limits, "TRUSTED_PROXY_CIDRS": "127.0.0.1/32"},
    )
    forwarded = [
        _post(trusting.base_url, json={}, headers={"x-forwarded-for": f"203.0.113.{i}"})
        for i in range(3)
    ]
    assert [response.status_code for response in forwarded] == [201, 201, 201]


def test_redis_down_means_no_token_and_not_ready(services, token_env, private_redis) -> None:
    service = services.start(
        ["token-service"],
        name="token-service",
        env={**token_env, "REDIS_URL": private_redis.url},
    )
    assert _post(service.base_url, json={}).status_code == 201
    assert httpx.get(f"{service.base_url}/readyz", timeout=5).status_code == 200

    private_redis.stop()
    refused = _post(service.base_url, json={})
    assert refused.status_code == 503
    assert refused.json()["error"] == "unavailable"
    assert "redis" in refused.json()["message"]
    assert "participant_token" not in refused.json()
    ready = httpx.get(f"{service.base_url}/readyz", timeout=5)
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"redis": "down"}
    assert "redis is down" in ready.json()["message"]
    assert httpx.get(f"{service.base_url}/healthz", timeout=5).status_code == 200
    metrics = httpx.get(f"{service.base_url}/metrics", timeout=5).text
    assert 'token_service_tokens_total{outcome="unavailable"} 1.0' in metrics

    private_redis.launch()
    assert _post(service.base_url, json={}).status_code == 201
    assert httpx.get(f"{service.base_url}/readyz", timeout=5).status_code == 200


def test_logs_hold_no_token_secret_key_or_caller_data(services, token_env) -> None:
    api_key = "log-test-api-key-0123456789"
    service = services.start(
        ["token-service"],
        name="token-service",
        env={**token_env, "TOKEN_SERVICE_API_KEYS": api_key, "LOG_LEVEL": "DEBUG"},
    )
    headers = {"authorization": f"Bearer {api_key}"}
    issued = _post(
        service.base_url,
        json={"participant_name": "Maria Garcia", "participant_metadata": "phone 555-0100"},
        headers=headers,
    )
    assert issued.status_code == 201
    _post(service.base_url, json={}, headers={"authorization": "Bearer wrong-guess-123456"})
    _post(service.base_url, json={"participant_name": "Maria\u0007Garcia"}, headers=headers)
    service.stop()

    log = service.log()
    assert '"event": "token_issued"' in log
    assert '"event": "token_refused"' in log
    for secret in (
        issued.json()["participant_token"],
        issued.json()["participant_token"].split(".")[2],
        token_env["LIVEKIT_API_SECRET"],
        api_key,
        "wrong-guess-123456",
        "Maria",
        "555-0100",
    ):
        assert secret not in log


def test_invalid_configuration_exits_2_without_echoing_secrets(token_env) -> None:
    env = {**os.environ, **token_env, "LIVEKIT_API_SECRET": "tiny-secret", "PORT": "1"}
    result = subprocess.run([TOKEN_SERVICE], env=env, capture_output=True, timeout=30, check=False)
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 2, output
    assert "invalid configuration" in output
    assert "LIVEKIT_API_SECRET" in output
    assert "tiny-secret" not in output
