"""Every way a token request is refused: the status, the reason, and that no token leaks."""

from __future__ import annotations

from typing import Any

import pytest

LONG = "x" * 65


def _assert_refused(response: Any, status: int, error: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == error
    assert body["message"]
    assert "participant_token" not in body
    assert response.headers["cache-control"] == "no-store"
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"room_name": 42}, "room_name"),
        ({"participant_name": "n" * 65}, "participant_name"),
        ({"participant_name": "   "}, "participant_name"),
        ({"participant_name": "bell\u0007"}, "participant_name"),
        ({"participant_name": "rtl\u202eoverride"}, "participant_name"),
        ({"participant_metadata": "m" * 1025}, "participant_metadata"),
        ({"participant_metadata": "é" * 513}, "participant_metadata"),
        ({"participant_metadata": {"not": "a string"}}, "participant_metadata"),
        ({"participant_attributes": {f"k{i}": "v" for i in range(17)}}, "participant_attributes"),
        ({"participant_attributes": {"bad key": "v"}}, "participant_attributes"),
        ({"participant_attributes": {"lk.agent.state": "speaking"}}, "participant_attributes"),
        ({"participant_attributes": {"k": "v" * 257}}, "participant_attributes"),
        (
            {"participant_attributes": {f"k{i}": "v" * 250 for i in range(9)}},
            "participant_attributes",
        ),
        ({"participant_attributes": {"k": 1}}, "participant_attributes.k"),
        ({"participant_attributes": ["k", "v"]}, "participant_attributes"),
        ({"clinic_id": "Bright Smile"}, "clinic_id"),
        ({"clinic_id": "c" * 65}, "clinic_id"),
        ({"room_config": "agents"}, "room_config"),
        ({"participant_kind": "agent"}, "participant_kind"),
        ({"can_publish_sources": ["camera"]}, "can_publish_sources"),
    ],
)
async def test_invalid_fields_are_422_naming_the_field(open_client, body, field) -> None:
    client = await open_client()
    refused = _assert_refused(await client.post("/v1/token", json=body), 422, "invalid_request")
    assert [problem["field"] for problem in refused["fields"]] == [field]
    assert field in refused["message"]


async def test_every_invalid_field_is_reported_at_once(open_client) -> None:
    client = await open_client()
    response = await client.post(
        "/v1/token",
        json={"participant_name": "  ", "clinic_id": "Bad Clinic", "extra": True},
    )
    refused = _assert_refused(response, 422, "invalid_request")
    fields = {problem["field"] for problem in refused["fields"]}
    assert fields == {"participant_name", "clinic_id", "extra"}


@pytest.mark.parametrize(
    ("room_config", "refused_field"),
    [
        ({"agents": [{"agent_name": "another-agent"}]}, "room_config.agents[0].agent_name"),
        ({"agents": [{"agentName": "another-agent"}]}, "room_config.agents[0].agent_name"),
        (
            {"agents": [{"metadata": '{"clinic_id":"bright-smile"}'}]},
            "room_config.agents[0].agent_name (missing",
        ),
        (
            {
                "agents": [
                    {"agent_name": "bright-smile-receptionist"},
                    {"agent_name": "bright-smile-receptionist"},
                ]
            },
            "room_config.agents (only one dispatch",
        ),
        (
            {"agents": [{"agent_name": "bright-smile-receptionist", "metadata": "free text"}]},
            "room_config.agents[0].metadata",
        ),
        (
            {
                "agents": [
                    {
                        "agent_name": "bright-smile-receptionist",
                        "metadata": '{"clinic_id":"bright-smile","role":"admin"}',
                    }
                ]
            },
            "room_config.agents[0].metadata",
        ),
        (
            {"agents": [{"agent_name": "bright-smile-receptionist", "deployment": "canary"}]},
            "room_config.agents[0].deployment",
        ),
        (
            {"agents": [{"agent_name": "bright-smile-receptionist", "attributes": {"a": "b"}}]},
            "room_config.agents[0].attributes",
        ),
        (
            {"agents": [{"agent_name": "bright-smile-receptionist", "restart_policy": 1}]},
            "room_config.agents[0].restart_policy",
        ),
        ({"egress": {"room": {"room_name": "x"}}}, "room_config.egress"),
        ({"egress": {}}, "room_config.egress"),
        ({"max_participants": 50}, "room_config.max_participants"),
        ({"maxParticipants": 50}, "room_config.max_participants"),
        ({"empty_timeout": 86400}, "room_config.empty_timeout"),
        ({"departure_timeout": 600}, "room_config.departure_timeout"),
        ({"metadata": "room metadata"}, "room_config.metadata"),
        ({"tags": {"team": "x"}}, "room_config.tags"),
        ({"sync_streams": True}, "room_config.sync_streams"),
        ({"min_playout_delay": 100}, "room_config.min_playout_delay"),
        ({"name": "some-other-room"}, "room_config.name"),
        ({"name": "call-chosen"}, "room_config.name"),
        ({"recording": True}, "room_config.recording (unknown field)"),
        (
            {"agents": [{"agent_name": "bright-smile-receptionist", "job_kind": 1}]},
            "room_config.agents[0].job_kind (unknown field)",
        ),
    ],
)
async def test_room_config_beyond_our_dispatch_is_400_naming_it(
    open_client, room_config, refused_field
) -> None:
    client = await open_client()
    response = await client.post("/v1/token", json={"room_config": room_config})
    refused = _assert_refused(response, 400, "request_refused")
    field, _, reason = refused_field.removesuffix(")").partition(" (")
    assert any(
        problem["field"] == field and problem["message"].startswith(reason)
        for problem in refused["fields"]
    ), refused
    assert field in refused["message"]


async def test_room_config_refusal_lists_everything_refused(open_client) -> None:
    client = await open_client()
    response = await client.post(
        "/v1/token",
        json={
            "room_config": {
                "agents": [{"agent_name": "other"}],
                "egress": {},
                "max_participants": 3,
                "bogus": 1,
            }
        },
    )
    refused = {
        problem["field"]: problem["message"]
        for problem in _assert_refused(response, 400, "request_refused")["fields"]
    }
    assert refused["room_config.agents[0].agent_name"].startswith("'other'")
    assert {"room_config.egress", "room_config.max_participants"} <= set(refused)
    assert refused["room_config.bogus"] == "unknown field"


async def test_room_config_with_wrong_types_is_400(open_client) -> None:
    client = await open_client()
    response = await client.post("/v1/token", json={"room_config": {"max_participants": "many"}})
    refused = _assert_refused(response, 400, "request_refused")
    assert "max_participants" in refused["message"]


async def test_unknown_clinic_is_404(open_client) -> None:
    client = await open_client()
    response = await client.post("/v1/token", json={"clinic_id": "elsewhere"})
    refused = _assert_refused(response, 404, "unknown_clinic")
    assert [problem["field"] for problem in refused["fields"]] == ["clinic_id"]


async def test_unknown_clinic_in_dispatch_metadata_is_404(open_client) -> None:
    client = await open_client()
    dispatch = {"agent_name": "bright-smile-receptionist", "metadata": '{"clinic_id":"nope"}'}
    response = await client.post("/v1/token", json={"room_config": {"agents": [dispatch]}})
    _assert_refused(response, 404, "unknown_clinic")


async def test_clinic_id_disagreeing_with_dispatch_metadata_is_400(open_client) -> None:
    client = await open_client()
    dispatch = {
        "agent_name": "bright-smile-receptionist",
        "metadata": '{"clinic_id":"bright-smile-north"}',
    }
    response = await client.post(
        "/v1/token",
        json={"clinic_id": "bright-smile", "room_config": {"agents": [dispatch]}},
    )
    _assert_refused(response, 400, "request_refused")


async def test_malformed_json_is_400(open_client) -> None:
    client = await open_client()
    response = await client.post(
        "/v1/token", content=b'{"room_name": ', headers={"content-type": "application/json"}
    )
    _assert_refused(response, 400, "malformed_json")


API_SECURITY_HEADERS = {
    "content-security-policy": "default-src 'none'; frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


def _nested(depth: int) -> bytes:
    """A body nested `depth` + 2 levels deep."""
    return b'{"room_config": {"agents": ' + b"[" * depth + b"]" * depth + b"}}"


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (rb'{"room_config": {"\ud800": 1}}', "surrogate"),
        (rb'{"room_config": {"agents": [{"agent_name": "\udfff"}]}}', "surrogate"),
        (rb'{"participant_metadata": "\ud83d"}', "surrogate"),
        (b"[" * 1000 + b"]" * 1000, "nested"),
        (_nested(990), "nested"),
        (_nested(7), "nested more than 8 levels"),
    ],
    ids=[
        "surrogate-key",
        "surrogate-value",
        "surrogate-metadata",
        "depth-1000",
        "depth-990",
        "depth-9",
    ],
)
async def test_json_protobuf_and_python_cannot_digest_is_400(open_client, payload, reason) -> None:
    """Each of these once escaped as a plain-text 500 (SystemError, RecursionError)."""
    client = await open_client()
    assert len(payload) <= 16 * 1024
    response = await client.post(
        "/v1/token", content=payload, headers={"content-type": "application/json"}
    )
    body = _assert_refused(response, 400, "malformed_json")
    assert reason in body["message"]
    for name, value in API_SECURITY_HEADERS.items():
        assert response.headers[name] == value


async def test_legitimately_nested_room_config_is_still_accepted(open_client) -> None:
    client = await open_client()
    response = await client.post(
        "/v1/token",
        json={"room_config": {"agents": [{"agent_name": "bright-smile-receptionist"}]}},
    )
    assert response.status_code == 201, response.text


async def test_an_unexpected_error_is_a_json_500_with_a_logged_error_id(
    open_client, caplog
) -> None:
    client = await open_client()
    app = client._transport.app  # the real app behind the in-process transport

    def broken_mint(claims: object) -> object:
        raise SystemError("a bug in a C extension")

    object.__setattr__(app.state.context.minter, "mint", broken_mint)
    with caplog.at_level("ERROR", logger="token_service.errors"):
        response = await client.post("/v1/token", json={})

    assert response.status_code == 500
    body = response.json()
    assert body["error"] == "internal_error"
    assert "a bug" not in body["message"]
    assert len(body["error_id"]) == 16
    for name, value in API_SECURITY_HEADERS.items():
        assert response.headers[name] == value
    [record] = [r for r in caplog.records if r.name == "token_service.errors"]
    assert record.error_id == body["error_id"]
    assert record.exc_info is not None


@pytest.mark.parametrize("payload", [b"[]", b'"text"', b"null", b"3"])
async def test_body_that_is_not_an_object_is_422(open_client, payload) -> None:
    client = await open_client()
    response = await client.post(
        "/v1/token", content=payload, headers={"content-type": "application/json"}
    )
    _assert_refused(response, 422, "invalid_request")


async def test_body_that_is_not_json_content_is_415(open_client) -> None:
    client = await open_client()
    response = await client.post("/v1/token", content=b"{}", headers={"content-type": "text/plain"})
    _assert_refused(response, 415, "unsupported_media_type")


async def test_oversized_body_is_413(open_client) -> None:
    client = await open_client()
    response = await client.post("/v1/token", json={"participant_metadata": "m" * 20_000})
    _assert_refused(response, 413, "payload_too_large")


async def test_oversized_body_without_content_length_is_413(open_client) -> None:
    client = await open_client()

    async def chunks():  # streamed, so no Content-Length header is sent
        for _ in range(20):
            yield b" " * 1024

    response = await client.post(
        "/v1/token", content=chunks(), headers={"content-type": "application/json"}
    )
    _assert_refused(response, 413, "payload_too_large")


async def test_empty_body_is_a_default_request(open_client) -> None:
    client = await open_client()
    response = await client.post("/v1/token")
    assert response.status_code == 201
    assert response.json()["participant_token"]


async def test_wrong_method_and_unknown_path_answer_json(open_client) -> None:
    client = await open_client(web_client_enabled=False)
    wrong_method = await client.get("/v1/token")
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"] == "method_not_allowed"
    unknown = await client.get("/v2/anything")
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "not_found"


async def test_refusals_are_counted_by_outcome(open_client, metric) -> None:
    client = await open_client()
    await client.post("/v1/token", json={"participant_name": " "})
    await client.post("/v1/token", json={"room_config": {"egress": {}}})
    await client.post("/v1/token", json={"clinic_id": "elsewhere"})
    await client.post("/v1/token", json={})
    text = (await client.get("/metrics")).text
    assert metric(text, "token_service_tokens_total", 'outcome="invalid_request"') == 2
    assert metric(text, "token_service_tokens_total", 'outcome="unknown_clinic"') == 1
    assert metric(text, "token_service_tokens_total", 'outcome="issued"') == 1
    assert metric(text, "token_service_tokens_total", 'outcome="unauthorized"') == 0
