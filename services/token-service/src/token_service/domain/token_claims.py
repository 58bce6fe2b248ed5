"""The claims builder: decides exactly what one issued token may do.

Given a validated request and the service's policy, it picks the room, identity,
grants, room configuration and lifetime. Rooms and identities are named here and only
here: a caller who could name a room could join someone else's call (a caller token can
subscribe), and one who could name an identity could take over a participant. The
grants are the least a web caller needs to talk to the receptionist: join that one
room, publish microphone audio, subscribe, and exchange data. The room configuration
dispatches exactly our agent with the caller's clinic; it is always built here, never
copied from the request.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from livekit.api import VideoGrants
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration

from token_service.domain.errors import RequestRefusedError, UnknownClinicError
from token_service.domain.room_config_policy import check_client_room_config
from token_service.domain.token_request import TokenRequest

PUBLISHABLE_SOURCES = ("microphone",)


@dataclass(frozen=True)
class TokenPolicy:
    """The deployment's fixed rules (from settings)."""

    agent_name: str
    clinic_ids: tuple[str, ...]
    ttl: timedelta

    @property
    def default_clinic_id(self) -> str:
        return self.clinic_ids[0]


@dataclass(frozen=True)
class TokenClaims:
    """Everything a token will say, ready to be signed."""

    identity: str
    room_name: str
    clinic_id: str
    ttl: timedelta
    grants: VideoGrants
    room_config: RoomConfiguration
    name: str | None = None
    metadata: str | None = None
    attributes: dict[str, str] = field(default_factory=dict)


def new_room_name() -> str:
    """A fresh room per call; 128 random bits make it unguessable."""
    return f"call-{secrets.token_urlsafe(16)}"


def new_caller_identity() -> str:
    return f"caller-{secrets.token_urlsafe(12)}"


def dispatch_metadata(clinic_id: str) -> str:
    """The job metadata the receptionist reads to know which clinic it answers for."""
    return json.dumps({"clinic_id": clinic_id}, separators=(",", ":"))


def caller_grants(room_name: str) -> VideoGrants:
    """Join one room; publish microphone only; subscribe; data. No admin powers of any kind."""
    return VideoGrants(
        room_join=True,
        room=room_name,
        can_publish=True,
        can_publish_sources=list(PUBLISHABLE_SOURCES),
        can_subscribe=True,
        can_publish_data=True,
    )


def _resolve_clinic(request: TokenRequest, from_dispatch: str | None, policy: TokenPolicy) -> str:
    if request.clinic_id and from_dispatch and request.clinic_id != from_dispatch:
        raise RequestRefusedError(
            "clinic_id and room_config.agents[0].metadata name different clinics",
            fields=[
                ("clinic_id", "names another clinic than room_config.agents[0].metadata"),
                ("room_config.agents[0].metadata", "names another clinic than clinic_id"),
            ],
        )
    clinic_id = request.clinic_id or from_dispatch or policy.default_clinic_id
    if clinic_id not in policy.clinic_ids:
        raise UnknownClinicError(clinic_id)
    return clinic_id


SERVICE_NAMED_FIELDS = ("room_name", "participant_identity")


def _refuse_caller_chosen_names(request: TokenRequest) -> None:
    chosen = [name for name in SERVICE_NAMED_FIELDS if getattr(request, name) is not None]
    if chosen:
        raise RequestRefusedError(
            f"{' and '.join(chosen)} may not be chosen by the caller: this service names "
            "every room (unguessably, a new one per call) and every identity itself, so "
            "that nobody can join a call that is not theirs. Leave them out; the response "
            "says which room and identity the token is for.",
            fields=[(name, "chosen by the service, never by the caller") for name in chosen],
        )


def build_token_claims(
    request: TokenRequest,
    policy: TokenPolicy,
    *,
    room_name_factory: Callable[[], str] = new_room_name,
    identity_factory: Callable[[], str] = new_caller_identity,
) -> TokenClaims:
    """Decide the token for `request`, or raise RequestRefusedError / UnknownClinicError."""
    _refuse_caller_chosen_names(request)
    clinic_from_dispatch = check_client_room_config(
        request.room_config, agent_name=policy.agent_name
    )
    clinic_id = _resolve_clinic(request, clinic_from_dispatch, policy)
    room_name = room_name_factory()
    room_config = RoomConfiguration(
        agents=[
            RoomAgentDispatch(agent_name=policy.agent_name, metadata=dispatch_metadata(clinic_id))
        ]
    )
    return TokenClaims(
        identity=identity_factory(),
        room_name=room_name,
        clinic_id=clinic_id,
        ttl=policy.ttl,
        grants=caller_grants(room_name),
        room_config=room_config,
        name=request.participant_name,
        metadata=request.participant_metadata,
        attributes=dict(request.participant_attributes or {}),
    )
