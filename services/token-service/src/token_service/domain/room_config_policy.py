"""What a caller may put in `room_config`: nothing but a repeat of our own agent dispatch.

LiveKit's client SDKs fold `agentName` / `agentMetadata` into `room_config.agents[0]`
before calling a token endpoint, so a web page that names our receptionist sends
`{"agents": [{"agent_name": "bright-smile-receptionist"}]}`. That, and metadata of the
form `{"clinic_id": "..."}`, are accepted. Everything else a RoomConfiguration can ask
for — another agent, egress/recording, participant limits, timeouts, room metadata,
tags, deployments — is refused with a 400 that names each refused field. The token's
own room configuration is always built fresh by the claims builder; nothing the
caller sent is passed through.

Both proto field names (`agent_name`, what the SDKs send) and JSON names (`agentName`)
are understood, as protobuf's JSON mapping requires.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from google.protobuf.json_format import ParseDict, ParseError
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration

from token_service.domain.errors import RequestRefusedError

FIELD = "room_config"
NOT_GRANTED = "not granted: the service configures every room itself"
_ECHO_LIMIT = 64


def _echo(value: str) -> str:
    """Client text quoted back in an error, cut short so errors stay small."""
    return repr(value if len(value) <= _ECHO_LIMIT else value[:_ECHO_LIMIT] + "…")


class _NamedField(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def json_name(self) -> str: ...


def _accepted_keys(fields: Iterable[_NamedField]) -> frozenset[str]:
    """Proto field names and their JSON (camelCase) names, as protobuf JSON allows both."""
    return frozenset(name for field in fields for name in (field.name, field.json_name))


_CONFIG_KEYS = _accepted_keys(RoomConfiguration.DESCRIPTOR.fields)
_DISPATCH_KEYS = _accepted_keys(RoomAgentDispatch.DESCRIPTOR.fields)


def _unknown_keys(raw: dict[str, Any], known: frozenset[str], prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}.{key}", "unknown field") for key in raw if key not in known]


def _parse(raw: dict[str, Any]) -> tuple[RoomConfiguration, list[tuple[str, str]]]:
    """The parsed configuration, and the keys it had that RoomConfiguration does not."""
    unknown = _unknown_keys(raw, _CONFIG_KEYS, FIELD)
    agents = raw.get("agents")
    if isinstance(agents, list):
        for index, entry in enumerate(agents):
            if isinstance(entry, dict):
                unknown += _unknown_keys(entry, _DISPATCH_KEYS, f"{FIELD}.agents[{index}]")
    try:
        return ParseDict(raw, RoomConfiguration(), ignore_unknown_fields=True), unknown
    except ParseError as exc:
        reason = f"not a valid LiveKit RoomConfiguration: {exc}"
        raise RequestRefusedError(f"room_config is {reason}", fields=[(FIELD, reason)]) from exc


def _clinic_from_metadata(metadata: str) -> str | None:
    """The clinic named by dispatch metadata of the form {"clinic_id": "..."}, else None."""
    try:
        parsed = json.loads(metadata)
    except ValueError:
        return None
    if isinstance(parsed, dict) and set(parsed) == {"clinic_id"}:
        clinic_id = parsed["clinic_id"]
        return clinic_id if isinstance(clinic_id, str) else None
    return None


def check_client_room_config(raw: dict[str, Any] | None, *, agent_name: str) -> str | None:
    """Refuse anything beyond a repeat of our dispatch; return a clinic it names, if any.

    `room_config.name` is refused like every other field: rooms are named by the service.
    """
    if not raw:
        return None
    config, refused = _parse(raw)
    for field, _ in config.ListFields():
        if field.name == "agents":
            continue
        refused.append((f"{FIELD}.{field.name}", NOT_GRANTED))

    clinic_id: str | None = None
    if len(config.agents) > 1:
        refused.append((f"{FIELD}.agents", f"only one dispatch, of {agent_name!r}, is allowed"))
    for index, dispatch in enumerate(config.agents[:1]):
        where = f"{FIELD}.agents[{index}]"
        for field, _ in dispatch.ListFields():
            if field.name == "agent_name":
                if dispatch.agent_name != agent_name:
                    refused.append(
                        (
                            f"{where}.agent_name",
                            f"{_echo(dispatch.agent_name)}: only {agent_name!r} may be dispatched",
                        )
                    )
            elif field.name == "metadata":
                clinic_id = _clinic_from_metadata(dispatch.metadata)
                if clinic_id is None:
                    refused.append(
                        (f"{where}.metadata", 'only {"clinic_id": "<clinic>"} is allowed')
                    )
            else:
                refused.append((f"{where}.{field.name}", NOT_GRANTED))
        if not dispatch.agent_name:
            refused.append((f"{where}.agent_name", f"missing; it must be {agent_name!r}"))

    if refused:
        raise RequestRefusedError(
            "room_config asks for what this endpoint does not grant: "
            f"{', '.join(f'{field} ({reason})' for field, reason in refused)}. Only a dispatch "
            f'of {agent_name!r}, optionally with metadata {{"clinic_id": "<clinic>"}}, is '
            "accepted.",
            fields=refused,
        )
    return clinic_id
