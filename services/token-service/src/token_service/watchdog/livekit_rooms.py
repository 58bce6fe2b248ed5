"""The LiveKit server API calls the watchdog makes (RoomService, AgentDispatchService)."""

from __future__ import annotations

import json

from livekit import api
from livekit.protocol.agent import JobStatus
from livekit.protocol.models import ParticipantInfo

from token_service.watchdog.policy import STATUS_KEY, RoomView

_IN_FLIGHT = {JobStatus.JS_PENDING, JobStatus.JS_RUNNING}
_CALLER_KINDS = {ParticipantInfo.Kind.STANDARD, ParticipantInfo.Kind.SIP}


class LiveKitRooms:
    def __init__(self, url: str, api_key: str, api_secret: str, agent_name: str) -> None:
        self._url, self._key, self._secret = url, api_key, api_secret
        self._agent_name = agent_name
        self._api: api.LiveKitAPI | None = None

    def _client(self) -> api.LiveKitAPI:
        if self._api is None:  # created inside the running event loop (aiohttp)
            self._api = api.LiveKitAPI(self._url, self._key, self._secret)
        return self._api

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()

    async def view(self, room: str) -> RoomView | None:
        """Who is in the room and whether a dispatch is in flight; None if it is gone."""
        client = self._client()
        try:
            listed = await client.room.list_participants(api.ListParticipantsRequest(room=room))
        except api.TwirpError as error:
            if error.code == api.TwirpErrorCode.NOT_FOUND:
                return None
            raise
        agents = sum(1 for p in listed.participants if p.kind == ParticipantInfo.Kind.AGENT)
        callers = sum(1 for p in listed.participants if p.kind in _CALLER_KINDS)
        dispatches = await client.agent_dispatch.list_dispatch(room)
        in_flight = any(
            job.state.status in _IN_FLIGHT
            for dispatch in dispatches
            if dispatch.agent_name == self._agent_name
            for job in dispatch.state.jobs
        )
        return RoomView(callers=callers, agents=agents, dispatch_in_flight=in_flight)

    async def dispatch_again(self, room: str, *, resumed: bool) -> None:
        """A new dispatch carrying the room's first dispatch's metadata (the clinic), and
        `"resumed": true` when the call lost its receptionist mid-way."""
        client = self._client()
        dispatches = await client.agent_dispatch.list_dispatch(room)
        metadata = next(
            (d.metadata for d in dispatches if d.agent_name == self._agent_name and d.metadata),
            "",
        )
        if resumed:
            metadata = _with_resumed(metadata)
        await client.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(
                agent_name=self._agent_name, room=room, metadata=metadata
            )
        )

    async def remove_participant(self, room: str, identity: str) -> bool:
        """Take a dead worker's receptionist out of the room now; False if it (or the
        room) is gone already: the call ended, or LiveKit noticed first."""
        try:
            await self._client().room.remove_participant(
                api.RoomParticipantIdentity(room=room, identity=identity)
            )
        except api.TwirpError as error:
            if error.code != api.TwirpErrorCode.NOT_FOUND:
                raise
            return False
        return True

    async def set_status(self, room: str, status: str) -> None:
        """Publish the caller-facing status in the room's metadata (the web client reads it)."""
        await self._client().room.update_room_metadata(
            api.UpdateRoomMetadataRequest(room=room, metadata=json.dumps({STATUS_KEY: status}))
        )


def _with_resumed(metadata: str) -> str:
    try:
        parsed = json.loads(metadata) if metadata else {}
    except json.JSONDecodeError:
        parsed = {}
    if not isinstance(parsed, dict):
        parsed = {}
    return json.dumps({**parsed, "resumed": True})
