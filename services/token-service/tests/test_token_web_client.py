"""The static web client at `/`, and the browser-hardening headers on every answer."""

from __future__ import annotations

from pathlib import Path

import pytest

INDEX = "<!doctype html><title>Call Bright Smile</title><script src='/app.js'></script>"


@pytest.fixture
def web_build(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_text(INDEX)
    (tmp_path / "app.js").write_text("console.log('call');")
    return tmp_path


async def test_built_web_client_is_served_at_root(open_client, web_build, lk) -> None:
    client = await open_client(web_client_dir=str(web_build))
    page = await client.get("/")
    assert page.status_code == 200
    assert page.text == INDEX
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert f"connect-src 'self' {lk['url']} https://livekit.bright-smile.test" in csp
    assert page.headers["permissions-policy"].startswith("microphone=(self)")
    assert page.headers["x-content-type-options"] == "nosniff"

    script = await client.get("/app.js")
    assert script.status_code == 200
    assert "console.log" in script.text

    missing = await client.get("/no-such-file.js")
    assert missing.status_code == 404


async def test_api_still_answers_beside_the_web_client(open_client, web_build) -> None:
    client = await open_client(web_client_dir=str(web_build))
    assert (await client.post("/v1/token", json={})).status_code == 201
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_missing_build_explains_itself(open_client, tmp_path) -> None:
    client = await open_client(web_client_dir=str(tmp_path / "absent"))
    response = await client.get("/")
    assert response.status_code == 404
    body = response.json()
    assert body["error"] == "web_client_not_built"
    assert "WEB_CLIENT_DIR" in body["message"]
    assert str(tmp_path) not in body["message"]


async def test_disabled_web_client_leaves_root_unserved(open_client, web_build) -> None:
    client = await open_client(web_client_dir=str(web_build), web_client_enabled=False)
    response = await client.get("/")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_api_answers_carry_strict_headers(open_client) -> None:
    client = await open_client()
    response = await client.post("/v1/token", json={})
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert "server" not in response.headers


async def test_only_the_openapi_document_is_published(open_client) -> None:
    client = await open_client(web_client_enabled=False)
    for path in ("/docs", "/redoc"):
        assert (await client.get(path)).status_code == 404
    document = await client.get("/openapi.json")
    assert document.status_code == 200
    assert (
        document.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    token = document.json()["paths"]["/v1/token"]["post"]
    assert set(token["responses"]) == {
        "201",
        "400",
        "401",
        "404",
        "413",
        "415",
        "422",
        "429",
        "500",
        "503",
    }
    body_schema = token["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["properties"]["room_name"]["maxLength"] == 0


async def test_metrics_series_exist_from_the_first_scrape(open_client, metric) -> None:
    client = await open_client()
    text = (await client.get("/metrics")).text
    for outcome in (
        "issued",
        "invalid_request",
        "unauthorized",
        "unknown_clinic",
        "rate_limited",
        "unavailable",
    ):
        assert metric(text, "token_service_tokens_total", f'outcome="{outcome}"') == 0
    assert metric(text, "token_service_rate_limited_total") == 0
    labels = 'method="POST",route="/v1/token",status_class="5xx"'
    assert metric(text, "token_service_http_request_duration_seconds_count", labels) == 0


async def test_request_latency_is_observed_by_route(open_client, metric) -> None:
    client = await open_client(web_client_enabled=False)
    await client.post("/v1/token", json={})
    await client.post("/v1/token", json={"room_name": "bad name"})
    await client.get("/some/random/path")
    text = (await client.get("/metrics")).text
    name = "token_service_http_request_duration_seconds_count"
    assert metric(text, name, 'method="POST",route="/v1/token",status_class="2xx"') == 1
    assert metric(text, name, 'method="POST",route="/v1/token",status_class="4xx"') == 1
    assert metric(text, name, 'method="GET",route="other",status_class="4xx"') == 1
    assert "/some/random/path" not in text
