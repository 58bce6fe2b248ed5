"""Abuse controls at the front door: API keys, CORS, X-Forwarded-For trust, rate limit."""

from __future__ import annotations

import ipaddress

import pytest
from token_service.api.auth import BearerKeys
from token_service.domain.client_address import rate_limit_key, resolve_client_address

KEY_A = "key-a-0123456789abcdef"
KEY_B = "key-b-0123456789abcdef"
ORIGIN = "https://www.bright-smile.example"
PROXIES = [ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("192.168.1.1/32")]


# --- API keys ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer ", "Bearer wrong-key-0123456789", f"Basic {KEY_A}", KEY_A],
)
async def test_missing_or_wrong_api_key_is_401(open_client, authorization, metric) -> None:
    client = await open_client(token_service_api_keys=f"{KEY_A},{KEY_B}")
    headers = {} if authorization is None else {"authorization": authorization}
    response = await client.post("/v1/token", json={}, headers=headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"
    assert "participant_token" not in response.json()
    text = (await client.get("/metrics")).text
    assert metric(text, "token_service_tokens_total", 'outcome="unauthorized"') == 1


@pytest.mark.parametrize("key", [KEY_A, KEY_B])
async def test_each_configured_api_key_is_accepted(open_client, key) -> None:
    client = await open_client(token_service_api_keys=f"{KEY_A},{KEY_B}")
    response = await client.post("/v1/token", json={}, headers={"authorization": f"bearer {key}"})
    assert response.status_code == 201


async def test_without_configured_keys_no_key_is_needed(open_client) -> None:
    client = await open_client()
    assert (await client.post("/v1/token", json={})).status_code == 201


def test_bearer_keys_compare_whole_keys() -> None:
    keys = BearerKeys([KEY_A])
    assert keys.accepts(f"Bearer {KEY_A}")
    assert not keys.accepts(f"Bearer {KEY_A[:-1]}")
    assert not keys.accepts(f"Bearer {KEY_A}x")
    assert not keys.accepts("Bearer ключ")
    assert BearerKeys([]).accepts(None)


# --- CORS -------------------------------------------------------------------------------


def _preflight(origin: str) -> dict[str, str]:
    return {
        "origin": origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type,authorization",
    }


async def test_cors_preflight_from_allowed_origin(open_client) -> None:
    client = await open_client(cors_allow_origins=ORIGIN)
    response = await client.options("/v1/token", headers=_preflight(ORIGIN))
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed_headers
    assert "content-type" in allowed_headers
    assert "access-control-allow-credentials" not in response.headers

    issued = await client.post("/v1/token", json={}, headers={"origin": ORIGIN})
    assert issued.status_code == 201
    assert issued.headers["access-control-allow-origin"] == ORIGIN


@pytest.mark.parametrize(
    "origin",
    ["https://evil.example", "http://www.bright-smile.example", f"{ORIGIN}.evil.example"],
)
async def test_cors_preflight_from_other_origin_is_refused(open_client, origin) -> None:
    client = await open_client(cors_allow_origins=ORIGIN)
    response = await client.options("/v1/token", headers=_preflight(origin))
    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers

    direct = await client.post("/v1/token", json={}, headers={"origin": origin})
    assert "access-control-allow-origin" not in direct.headers


async def test_cors_preflight_for_another_method_is_refused(open_client) -> None:
    client = await open_client(cors_allow_origins=ORIGIN)
    headers = {**_preflight(ORIGIN), "access-control-request-method": "DELETE"}
    response = await client.options("/v1/token", headers=headers)
    assert response.status_code == 400


async def test_without_cors_origins_no_cross_origin_access(open_client) -> None:
    client = await open_client()
    response = await client.options("/v1/token", headers=_preflight(ORIGIN))
    assert response.status_code == 405
    assert "access-control-allow-origin" not in response.headers


# --- X-Forwarded-For --------------------------------------------------------------------


# a peer the service trusts as its proxy, and a limit of two requests in a burst
BEHIND_PROXY = {
    "peer": "10.1.2.3",
    "trusted_proxy_cidrs": "10.0.0.0/8",
    "rate_limit_requests": 1,
    "rate_limit_burst": 2,
}


async def _burst_then_limited(client, headers: dict[str, str]) -> list[int]:
    return [
        (await client.post("/v1/token", json={}, headers=headers)).status_code for _ in range(3)
    ]


async def test_forwarded_for_from_untrusted_peer_is_ignored(open_client) -> None:
    client = await open_client(peer="198.51.100.9", rate_limit_requests=1, rate_limit_burst=2)
    statuses = []
    for spoofed in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        response = await client.post("/v1/token", json={}, headers={"x-forwarded-for": spoofed})
        statuses.append(response.status_code)
    assert statuses == [201, 201, 429]


async def test_forwarded_for_from_trusted_proxy_names_the_client(open_client) -> None:
    client = await open_client(**BEHIND_PROXY)
    first = await _burst_then_limited(client, {"x-forwarded-for": "198.51.100.1"})
    second = await _burst_then_limited(client, {"x-forwarded-for": "198.51.100.2"})
    assert first == [201, 201, 429]
    assert second == [201, 201, 429]


async def test_client_written_forwarded_entries_cannot_escape_the_limit(open_client) -> None:
    """Left of the right-most untrusted address is the client's own text: ignored."""
    client = await open_client(**BEHIND_PROXY)
    statuses = []
    for spoofed in ("1.1.1.1", "2.2.2.2", "3.3.3.3"):
        response = await client.post(
            "/v1/token",
            json={},
            headers={"x-forwarded-for": f"{spoofed}, 198.51.100.7, 10.9.9.9"},
        )
        statuses.append(response.status_code)
    assert statuses == [201, 201, 429]


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("198.51.100.9", ["1.1.1.1"], "198.51.100.9"),
        ("10.0.0.5", [], "10.0.0.5"),
        ("10.0.0.5", ["203.0.113.4"], "203.0.113.4"),
        ("10.0.0.5", ["6.6.6.6, 203.0.113.4"], "203.0.113.4"),
        ("10.0.0.5", ["6.6.6.6, 203.0.113.4, 192.168.1.1, 10.2.2.2"], "203.0.113.4"),
        ("10.0.0.5", ["6.6.6.6", "203.0.113.4, 10.2.2.2"], "203.0.113.4"),
        ("10.0.0.5", ["10.3.3.3, 10.2.2.2"], "10.3.3.3"),
        ("10.0.0.5", ["203.0.113.4, not-an-ip, 10.2.2.2"], "10.2.2.2"),
        ("10.0.0.5", ["garbage"], "10.0.0.5"),
        ("10.0.0.5", ["2001:db8::1"], "2001:db8::1"),
        ("::ffff:10.0.0.5", ["203.0.113.4"], "203.0.113.4"),
        ("192.168.1.2", ["203.0.113.4"], "192.168.1.2"),
    ],
)
def test_resolve_client_address(peer, forwarded, client) -> None:
    assert resolve_client_address(peer, forwarded, PROXIES) == ipaddress.ip_address(client)


def test_unparseable_peer_has_no_address() -> None:
    assert resolve_client_address("testclient", ["1.1.1.1"], PROXIES) is None
    assert resolve_client_address(None, [], PROXIES) is None
    assert rate_limit_key(None) == "unknown"


def test_ipv6_clients_share_a_bucket_per_64() -> None:
    first = rate_limit_key(ipaddress.ip_address("2001:db8:1:2::1"))
    same_64 = rate_limit_key(ipaddress.ip_address("2001:db8:1:2:ffff::9"))
    other_64 = rate_limit_key(ipaddress.ip_address("2001:db8:1:3::1"))
    assert first == same_64 == "2001:db8:1:2::/64"
    assert other_64 != first
    assert rate_limit_key(ipaddress.ip_address("198.51.100.7")) == "198.51.100.7"


# --- rate limit through the endpoint ----------------------------------------------------


async def test_rate_limited_request_is_429_with_retry_after(open_client, metric) -> None:
    client = await open_client(
        rate_limit_requests=2, rate_limit_window_seconds=60, rate_limit_burst=2
    )
    statuses = [(await client.post("/v1/token", json={})).status_code for _ in range(2)]
    limited = await client.post("/v1/token", json={})
    assert statuses == [201, 201]
    assert limited.status_code == 429
    assert limited.json()["error"] == "rate_limited"
    assert "participant_token" not in limited.json()
    assert 1 <= int(limited.headers["retry-after"]) <= 30
    text = (await client.get("/metrics")).text
    assert metric(text, "token_service_tokens_total", 'outcome="rate_limited"') == 1
    assert metric(text, "token_service_rate_limited_total") == 1


async def test_rate_limit_counts_unauthenticated_attempts(open_client) -> None:
    client = await open_client(
        token_service_api_keys=KEY_A, rate_limit_requests=1, rate_limit_burst=2
    )
    guesses = [
        (await client.post("/v1/token", headers={"authorization": f"Bearer guess-{i}"})).status_code
        for i in range(3)
    ]
    assert guesses == [401, 401, 429]


async def test_clients_have_separate_budgets(open_client) -> None:
    first = await open_client(peer="198.51.100.1", rate_limit_requests=1, rate_limit_burst=1)
    second = await open_client(peer="198.51.100.2", rate_limit_requests=1, rate_limit_burst=1)
    assert (await first.post("/v1/token", json={})).status_code == 201
    assert (await first.post("/v1/token", json={})).status_code == 429
    assert (await second.post("/v1/token", json={})).status_code == 201
