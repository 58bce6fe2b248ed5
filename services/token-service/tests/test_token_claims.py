"""Every claim of every issued token, decoded with the LiveKit secret."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta
from typing import Any

import jwt
import pytest
from livekit import api
from token_service.domain.errors import RequestRefusedError
from token_service.domain.token_claims import (
    TokenPolicy,
    build_token_claims,
    caller_grants,
)
from token_service.domain.token_request import TokenRequest

CALLER_VIDEO_GRANTS = {
    "roomJoin",
    "room",
    "canPublish",
    "canSubscribe",
    "canPublishData",
    "canPublishSources",
}
FORBIDDEN_VIDEO_GRANTS = {
    "roomAdmin",
    "roomCreate",
    "roomList",
    "roomRecord",
    "hidden",
    "agent",
    "recorder",
    "ingressAdmin",
    "canUpdateOwnMetadata",
    "canManageAgentSession",
    "canSubscribeMetrics",
    "destinationRoom",
}
NO_OTHER_GRANTS = {
    "sip",
    "inference",
    "observability",
    "agentEndpoint",
    "agentThread",
    "kind",
    "roomPreset",
    "sha256",
}


async def _issue(client: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/v1/token", json=body if body is not None else {})
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    payload: dict[str, Any] = response.json()
    return payload


def _dispatch(claims: dict[str, Any]) -> dict[str, Any]:
    agents = claims["roomConfig"]["agents"]
    assert len(agents) == 1
    dispatch: dict[str, Any] = agents[0]
    return dispatch


async def test_default_token_claims(open_client, decode, lk) -> None:
    client = await open_client()
    before = int(time.time())
    body = await _issue(client)
    after = int(time.time())
    claims = decode(body["participant_token"])

    assert set(body) == {
        "server_url",
        "participant_token",
        "room_name",
        "participant_identity",
        "expires_at",
    }
    assert body["server_url"] == lk["url"]
    assert claims["iss"] == lk["key"]
    assert claims["sub"] == body["participant_identity"]
    assert body["participant_identity"].startswith("caller-")
    assert body["room_name"].startswith("call-")
    assert len(body["room_name"]) >= len("call-") + 22  # 128 random bits, base64url

    assert set(claims) == {"video", "roomConfig", "sub", "iss", "nbf", "exp"}
    assert claims["video"] == {
        "roomJoin": True,
        "room": body["room_name"],
        "canPublish": True,
        "canSubscribe": True,
        "canPublishData": True,
        "canPublishSources": ["microphone"],
    }
    assert not FORBIDDEN_VIDEO_GRANTS & set(claims["video"])
    assert not NO_OTHER_GRANTS & set(claims)

    assert before - 1 <= claims["nbf"] <= after
    assert before + 900 <= claims["exp"] <= after + 900 + 1
    assert datetime.fromisoformat(body["expires_at"]).timestamp() == claims["exp"]
    assert body["expires_at"].endswith("Z")

    assert claims["roomConfig"] == {
        "agents": [{"agentName": lk["agent_name"], "metadata": '{"clinic_id":"bright-smile"}'}]
    }


async def test_livekit_token_verifier_reads_the_same_claims(open_client, lk) -> None:
    client = await open_client()
    body = await _issue(client, {"clinic_id": "bright-smile-north"})
    claims = api.TokenVerifier(lk["key"], lk["secret"]).verify(body["participant_token"])

    assert claims.identity == body["participant_identity"]
    assert claims.video is not None
    assert claims.video.room_join is True
    assert claims.video.room == body["room_name"]
    assert claims.video.can_publish_sources == ["microphone"]
    for forbidden in ("room_admin", "room_create", "room_list", "room_record", "hidden"):
        assert getattr(claims.video, forbidden) is None
    assert claims.video.agent is None
    assert claims.video.recorder is None
    assert claims.video.ingress_admin is None
    assert claims.room_config is not None
    [dispatch] = claims.room_config.agents
    assert dispatch.agent_name == lk["agent_name"]
    assert json.loads(dispatch.metadata) == {"clinic_id": "bright-smile-north"}


async def test_token_does_not_verify_with_another_secret(open_client, lk) -> None:
    client = await open_client()
    body = await _issue(client)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            body["participant_token"],
            "another-secret-another-secret-another",
            algorithms=["HS256"],
        )


async def test_every_call_gets_a_fresh_room_and_identity(open_client) -> None:
    client = await open_client()
    first, second = await _issue(client), await _issue(client)
    assert first["room_name"] != second["room_name"]
    assert first["participant_identity"] != second["participant_identity"]


async def test_caller_chosen_fields_are_carried(open_client, decode) -> None:
    client = await open_client()
    request = {
        "participant_name": "Zoë O'Brien",
        "participant_metadata": '{"page":"contact"}',
        "participant_attributes": {"locale": "en-US", "source": "website"},
        "clinic_id": "bright-smile-north",
    }
    body = await _issue(client, request)
    claims = decode(body["participant_token"])

    assert claims["name"] == "Zoë O'Brien"
    assert claims["metadata"] == '{"page":"contact"}'
    assert claims["attributes"] == {"locale": "en-US", "source": "website"}
    assert json.loads(_dispatch(claims)["metadata"]) == {"clinic_id": "bright-smile-north"}
    assert set(claims["video"]) == CALLER_VIDEO_GRANTS


async def test_two_requests_never_get_tokens_for_the_same_room(open_client, decode) -> None:
    """A second caller cannot obtain a token for the first caller's room, by any means."""
    client = await open_client()
    first = await _issue(client)
    rooms = {first["room_name"]}
    identities = {first["participant_identity"]}
    for _ in range(200):
        body = await _issue(client)
        rooms.add(decode(body["participant_token"])["video"]["room"])
        identities.add(decode(body["participant_token"])["sub"])
    assert len(rooms) == len(identities) == 201

    for attempt in (
        {"room_name": first["room_name"]},
        {"participant_identity": first["participant_identity"]},
        {"room_config": {"name": first["room_name"]}},
        {"room_config": {"name": first["room_name"]}, "room_name": first["room_name"]},
    ):
        response = await client.post("/v1/token", json=attempt)
        assert response.status_code == 400, response.text
        assert "participant_token" not in response.json()


@pytest.mark.parametrize(
    ("request_body", "refused"),
    [
        ({"room_name": "call-someone-elses-room"}, ["room_name"]),
        ({"participant_identity": "caller-someone-else"}, ["participant_identity"]),
        (
            {"room_name": "lobby", "participant_identity": "front-desk"},
            ["room_name", "participant_identity"],
        ),
        ({"room_name": "has space"}, ["room_name"]),
        ({"participant_identity": "agent-impostor"}, ["participant_identity"]),
    ],
)
async def test_caller_chosen_room_or_identity_is_400_saying_why(
    open_client, request_body, refused
) -> None:
    client = await open_client()
    response = await client.post("/v1/token", json=request_body)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "request_refused"
    assert [problem["field"] for problem in body["fields"]] == refused
    assert "names every room" in body["message"]
    assert "participant_token" not in body


async def test_ttl_comes_from_settings(open_client, decode) -> None:
    client = await open_client(token_ttl_seconds=120)
    before = int(time.time())
    claims = decode((await _issue(client))["participant_token"])
    assert before + 120 <= claims["exp"] <= int(time.time()) + 121


async def test_agent_name_comes_from_settings(open_client, decode) -> None:
    client = await open_client(agent_name="receptionist-canary")
    claims = decode((await _issue(client))["participant_token"])
    assert _dispatch(claims)["agentName"] == "receptionist-canary"


@pytest.mark.parametrize(
    ("room_config", "clinic_id"),
    [
        ({"agents": [{"agent_name": "bright-smile-receptionist"}]}, "bright-smile"),
        ({"agents": [{"agentName": "bright-smile-receptionist"}]}, "bright-smile"),
        (
            {
                "agents": [
                    {
                        "agent_name": "bright-smile-receptionist",
                        "metadata": '{"clinic_id": "bright-smile-north"}',
                    }
                ]
            },
            "bright-smile-north",
        ),
        ({}, "bright-smile"),
        ({"agents": []}, "bright-smile"),
        ({"max_participants": 0, "sync_streams": False}, "bright-smile"),
    ],
    ids=["snake-case", "camel-case", "clinic-in-metadata", "empty", "no-agents", "defaults"],
)
async def test_room_config_repeating_our_dispatch_is_accepted(
    open_client, decode, lk, room_config, clinic_id
) -> None:
    client = await open_client()
    claims = decode((await _issue(client, {"room_config": room_config}))["participant_token"])
    dispatch = _dispatch(claims)
    assert dispatch["agentName"] == lk["agent_name"]
    assert json.loads(dispatch["metadata"]) == {"clinic_id": clinic_id}
    assert set(claims["roomConfig"]) == {"agents"}


async def test_empty_strings_mean_not_given(open_client, decode) -> None:
    client = await open_client()
    body = await _issue(
        client, {"room_name": "", "participant_identity": "", "participant_name": ""}
    )
    claims = decode(body["participant_token"])
    assert body["room_name"].startswith("call-")
    assert claims["sub"].startswith("caller-")
    assert "name" not in claims


def test_claims_builder_refuses_a_chosen_room_even_with_factories() -> None:
    policy = TokenPolicy(agent_name="agent-x", clinic_ids=("a",), ttl=timedelta(seconds=300))
    with pytest.raises(RequestRefusedError) as refused:
        build_token_claims(
            TokenRequest(room_name="room-1", participant_identity="caller-1"),
            policy,
            room_name_factory=lambda: "room-1",
        )
    assert [field for field, _ in refused.value.fields] == ["room_name", "participant_identity"]


def test_claims_builder_is_deterministic_given_its_factories() -> None:
    policy = TokenPolicy(agent_name="agent-x", clinic_ids=("a", "b"), ttl=timedelta(seconds=300))
    claims = build_token_claims(
        TokenRequest(clinic_id="b"),
        policy,
        room_name_factory=lambda: "room-1",
        identity_factory=lambda: "caller-1",
    )
    assert claims.room_name == "room-1"
    assert claims.identity == "caller-1"
    assert claims.clinic_id == "b"
    assert claims.ttl == timedelta(seconds=300)
    assert claims.grants == caller_grants("room-1")
    [dispatch] = claims.room_config.agents
    assert (dispatch.agent_name, dispatch.metadata) == ("agent-x", '{"clinic_id":"b"}')


def test_caller_grants_hold_no_admin_power() -> None:
    grants = caller_grants("room-1")
    assert (grants.room_join, grants.room) == (True, "room-1")
    assert grants.can_publish_sources == ["microphone"]
    assert grants.can_subscribe
    assert grants.can_publish_data
    for power in (
        "room_admin",
        "room_create",
        "room_list",
        "room_record",
        "hidden",
        "agent",
        "recorder",
        "ingress_admin",
        "can_update_own_metadata",
        "can_manage_agent_session",
        "can_subscribe_metrics",
        "destination_room",
    ):
        assert getattr(grants, power) is None, power
