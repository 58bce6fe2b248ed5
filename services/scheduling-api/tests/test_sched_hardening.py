"""What an attacker or a fuzzer tries: unauthenticated bodies, huge and chunked bodies,
control characters, methods a route lacks, bugs; and that the OpenAPI document tells the
truth about every answer. Socket-level tests run against a real `scheduling-api` process.
"""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

CLINIC = "/v1/clinics/test-clinic"
PROCESS_CLINIC = "/v1/clinics/bright-smile"
SOCKET_TIMEOUT = 20.0


def _connect(server: Any) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT)
    sock.settimeout(SOCKET_TIMEOUT)
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 response with a Content-Length body (all this service sends)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response: {data!r}")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return int(status_line.split()[1]), headers, body[:length]


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _post_head(path: str, *extra: str, chunked: bool = True, length: int | None = None) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: scheduling.test", "Content-Type: application/json"]
    lines += ["Transfer-Encoding: chunked"] if chunked else [f"Content-Length: {length}"]
    lines += [*extra, "", ""]
    return "\r\n".join(lines).encode()


@pytest.fixture
def small_cap_server(services: Any, process_env: dict[str, str]) -> Any:
    """A real process with a 4 KB body cap, so the tests send little."""
    return services.start(
        ["scheduling-api"], name="scheduling-api", env={**process_env, "MAX_BODY_BYTES": "4096"}
    )


@pytest.mark.parametrize(
    "head",
    [
        _post_head(f"{PROCESS_CLINIC}/bookings", "Idempotency-Key: k1"),
        _post_head(
            f"{PROCESS_CLINIC}/bookings", "Idempotency-Key: k1", chunked=False, length=50 << 20
        ),
        _post_head(f"{PROCESS_CLINIC}/callbacks", "Authorization: Bearer wrong-token"),
    ],
    ids=["chunked", "50MB-declared", "wrong-token"],
)
def test_unauthenticated_request_is_401_before_any_body_byte(small_cap_server, head) -> None:
    """The 401 comes back while the client has sent headers only: no body is waited for."""
    with _connect(small_cap_server) as sock:
        sock.sendall(head)
        status, headers, body = _read_response(sock)
    assert status == 401
    assert headers["www-authenticate"] == "Bearer"
    assert json.loads(body)["error"] == "unauthorized"


def test_chunked_body_over_the_cap_is_413_and_the_connection_closes(
    small_cap_server, auth_headers
) -> None:
    auth = f"Authorization: {auth_headers['Authorization']}"
    with _connect(small_cap_server) as sock:
        sock.sendall(_post_head(f"{PROCESS_CLINIC}/callbacks", auth))
        # A JSON string that never ends, 1 KB per chunk: only the cap can stop it.
        sock.sendall(_chunk(b'{"name": "' + b"a" * 1014))
        for _ in range(4):
            sock.sendall(_chunk(b"a" * 1024))
        status, headers, body = _read_response(sock)
        assert sock.recv(1) == b""  # closed: the rest of that body is never read
    assert status == 413
    assert headers["connection"] == "close"
    refused = json.loads(body)
    assert refused["error"] == "payload_too_large"
    assert "4096 bytes" in refused["message"]


def test_declared_length_over_the_cap_is_413_without_reading(
    small_cap_server, auth_headers
) -> None:
    auth = f"Authorization: {auth_headers['Authorization']}"
    with _connect(small_cap_server) as sock:
        sock.sendall(_post_head(f"{PROCESS_CLINIC}/callbacks", auth, chunked=False, length=4097))
        status, _, body = _read_response(sock)
    assert status == 413
    assert json.loads(body)["error"] == "payload_too_large"


def test_chunked_body_under_the_cap_is_served(small_cap_server, auth_headers) -> None:
    auth = f"Authorization: {auth_headers['Authorization']}"
    payload = json.dumps({"name": "Ana Ruiz", "phone": "5125550177", "reason": "r" * 900})
    with _connect(small_cap_server) as sock:
        sock.sendall(_post_head(f"{PROCESS_CLINIC}/callbacks", auth))
        sock.sendall(_chunk(payload.encode()[:500]) + _chunk(payload.encode()[500:]) + b"0\r\n\r\n")
        status, _, body = _read_response(sock)
    assert status == 201, body
    assert json.loads(body)["name"] == "Ana Ruiz"


async def test_body_cap_defaults_to_64_kb(api: Any) -> None:
    over = await api.client.post(
        f"{CLINIC}/callbacks",
        json={"name": "Ana", "phone": "5125550177", "reason": "r" * (64 * 1024)},
    )
    assert over.status_code == 413
    assert "65536 bytes" in over.json()["message"]


@pytest.mark.parametrize("path", [f"{CLINIC}/bookings", f"{CLINIC}/callbacks"])
async def test_a_method_a_path_lacks_is_405_allowing_every_method_it_has(
    api: Any, path: str
) -> None:
    for method in ("OPTIONS", "DELETE", "PUT"):
        response = await api.client.request(method, path)
        assert response.status_code == 405
        assert response.json()["error"] == "method_not_allowed"
        assert set(response.headers["allow"].split(", ")) == {"GET", "HEAD", "POST"}


async def test_control_characters_never_reach_the_book(api: Any) -> None:
    slot = (
        await api.client.get(
            f"{CLINIC}/availability", params={"appointment_type": "exam", "limit": 1}
        )
    ).json()["slots"][0]
    for email in ("a\x00b@example.com", "maria@exam\x07ple.com", "maria@example.com\u200b"):
        refused = await api.client.post(
            f"{CLINIC}/bookings",
            json={
                "slot_id": slot["slot_id"],
                "patient": {"name": "Maria", "phone": "5125550199", "email": email},
            },
            headers={"Idempotency-Key": f"ctl-{email!r}"},
        )
        assert refused.status_code == 422, refused.text
        assert [f["field"] for f in refused.json()["fields"]] == ["patient.email"]

    callback = await api.client.post(
        f"{CLINIC}/callbacks",
        json={
            "name": "Ana\x00 Ruiz",
            "phone": "5125550177",
            "reason": "call\x00back\x1b[31m",
            "preferred_time": "after\x00 5",
            "source": "web\x00",
        },
    )
    assert callback.status_code == 201, callback.text
    stored = json.dumps(callback.json())
    assert "\\u0000" not in stored
    assert "\\u001b" not in stored


async def test_openapi_documents_every_answer_in_the_real_error_shape(api: Any) -> None:
    document = (await api.client.get("/openapi.json")).json()
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert {"error", "message", "fields", "error_id"} <= set(schemas["ErrorOut"]["properties"])
    operations = {
        (method.upper(), path): operation
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    }
    expected = {
        ("GET", "/v1/clinics"): {"200", "401", "413", "500"},
        ("POST", "/v1/clinics/{clinic_id}/bookings"): {
            "201", "400", "401", "404", "409", "413", "422", "500", "503"
        },
        ("GET", "/v1/clinics/{clinic_id}/callbacks"): {
            "200", "401", "404", "413", "422", "500", "503"
        },
        ("GET", "/readyz"): {"200", "413", "500", "503"},
    }  # fmt: skip
    for key, statuses in expected.items():
        assert set(operations[key]["responses"]) >= statuses, key
    for (_, path), operation in operations.items():
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path.startswith("/v1/"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorOut"}, (path, status)
    not_found = operations[("GET", "/v1/clinics/{clinic_id}/bookings/{booking_id}")]
    assert "clinic_not_found" in not_found["responses"]["404"]["description"]
    assert "booking_not_found" in not_found["responses"]["404"]["description"]


def test_a_fresh_process_exposes_every_route_series_before_any_request(
    services: Any, process_env: dict[str, str]
) -> None:
    """The error-ratio panels and alerts divide by these: a series born on the first 5xx
    would make that first error invisible to `rate()`."""
    server = services.start(["scheduling-api"], name="scheduling-api", env=process_env)
    text = httpx.get(f"{server.base_url}/metrics", timeout=10).text
    for route in ("/v1/clinics/{clinic_id}/availability", "/v1/clinics/{clinic_id}/bookings"):
        for status_class in ("2xx", "4xx", "5xx"):
            assert f'route="{route}",status_class="{status_class}"' in text, (route, status_class)
