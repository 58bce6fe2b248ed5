"""Callers who only wait for a receptionist: the dispatch tests' and the bench's view of
"was this caller served?".

Each one gets a token from the token service exactly as the web client does (which
dispatches the receptionist), joins the room, and records when an agent participant joined
and who it was, and every `lk.dispatch.status` the dispatch watchdog published to the room
(the busy message). It stays in the room until `hang_up()`, so a burst of them really
overlaps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field

import httpx
from livekit import rtc

# what the dispatch watchdog sets on the room's metadata while a caller waits
DISPATCH_STATUS_KEY = "lk.dispatch.status"
# LiveKit Agents publishes what the receptionist says as text streams on this topic
TRANSCRIPTION_TOPIC = "lk.transcription"


@dataclass
class WaitRecord:
    room_name: str = ""
    joined_at: float = 0.0  # monotonic: the caller is in the room
    agent_identity: str | None = None
    agent_joined_at: float | None = None
    statuses: list[tuple[float, str]] = field(default_factory=list)  # (monotonic, status)
    agents: list[str] = field(default_factory=list)  # every receptionist that joined
    said: list[tuple[str, str]] = field(default_factory=list)  # (identity, text) it spoke
    error: str | None = None

    @property
    def served(self) -> bool:
        return self.agent_identity is not None

    @property
    def seconds_to_agent(self) -> float | None:
        if self.agent_joined_at is None:
            return None
        return self.agent_joined_at - self.joined_at

    def first_status(self, status: str) -> float | None:
        """Seconds from joining to the first time the room showed `status`."""
        for at, seen in self.statuses:
            if seen == status:
                return at - self.joined_at
        return None


class WaitingCaller:
    """One caller in a room, waiting for the receptionist."""

    def __init__(self, token_service_url: str, clinic_id: str = "bright-smile") -> None:
        self._token_url = token_service_url.rstrip("/") + "/v1/token"
        self._clinic_id = clinic_id
        self._room = rtc.Room()
        self._agent_joined = asyncio.Event()
        self._status_changed = asyncio.Event()
        self._said = asyncio.Event()
        self._readers: set[asyncio.Future[None]] = set()
        self.record = WaitRecord()

    async def join(self) -> WaitRecord:
        async with httpx.AsyncClient(timeout=30.0) as client:
            response = await client.post(self._token_url, json={"clinic_id": self._clinic_id})
        if response.status_code != 201:
            self.record.error = f"token service answered {response.status_code}"
            return self.record
        body = response.json()
        return await self.join_with(
            str(body["server_url"]), str(body["participant_token"]), str(body["room_name"])
        )

    async def join_with(self, server_url: str, token: str, room_name: str) -> WaitRecord:
        """Join with a token minted elsewhere (e.g. a phone caller's, as LiveKit SIP's)."""
        self.record.room_name = room_name
        self._wire()
        await self._room.connect(server_url, token)
        self.record.joined_at = time.monotonic()
        self._read_metadata(self._room.metadata)
        for participant in self._room.remote_participants.values():
            self._notice(participant)
        return self.record

    async def wait_for_agent(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._agent_joined.wait(), seconds)
        return self._agent_joined.is_set()

    async def wait_for_status(self, status: str, seconds: float) -> float | None:
        """Seconds from joining to the room first showing `status`, or None after `seconds`."""
        deadline = time.monotonic() + seconds
        while self.record.first_status(status) is None:
            self._status_changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._status_changed.wait(), remaining)
        return self.record.first_status(status)

    async def hang_up(self) -> None:
        await self._room.disconnect()

    def _wire(self) -> None:
        @self._room.on("participant_connected")
        def _joined(participant: rtc.RemoteParticipant) -> None:
            self._notice(participant)

        @self._room.on("room_metadata_changed")
        def _metadata(_old: str, new: str) -> None:
            self._read_metadata(new)

        self._room.register_text_stream_handler(TRANSCRIPTION_TOPIC, self._on_text)

    def _on_text(self, reader: rtc.TextStreamReader, identity: str) -> None:
        task = asyncio.ensure_future(self._read_text(reader, identity))
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read_text(self, reader: rtc.TextStreamReader, identity: str) -> None:
        if identity not in self.record.agents:
            return  # the caller's own transcript
        with contextlib.suppress(Exception):  # a stream cut by a hang-up keeps what came
            text = "".join([chunk async for chunk in reader])
            self.record.said.append((identity, text))
        self._said.set()

    async def wait_for_words(self, words: str, seconds: float) -> str | None:
        """The identity of the receptionist who said `words` (case-insensitive), if one
        did within `seconds`."""
        deadline = time.monotonic() + seconds
        while True:
            for identity, text in self.record.said:
                if words.lower() in text.lower():
                    return identity
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._said.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._said.wait(), remaining)

    def _notice(self, participant: rtc.Participant) -> None:
        if participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            return
        if participant.identity not in self.record.agents:
            self.record.agents.append(participant.identity)
        if self.record.agent_identity is None:
            self.record.agent_identity = participant.identity
            self.record.agent_joined_at = time.monotonic()
        self._agent_joined.set()

    def _read_metadata(self, metadata: str) -> None:
        status = dispatch_status(metadata)
        if status is not None:
            self.record.statuses.append((time.monotonic(), status))
            self._status_changed.set()


def dispatch_status(metadata: str) -> str | None:
    """The watchdog's status in a room's metadata (JSON), if any."""
    try:
        parsed = json.loads(metadata) if metadata else None
    except json.JSONDecodeError:
        return None
    if isinstance(parsed, dict):
        value = parsed.get(DISPATCH_STATUS_KEY)
        return value if isinstance(value, str) else None
    return None


async def burst(token_service_url: str, calls: int, *, agent_timeout: float) -> list[WaitRecord]:
    """`calls` callers joining at once; each waits up to `agent_timeout` s for a
    receptionist, and all stay in their rooms until the last one is done waiting."""
    callers = [WaitingCaller(token_service_url) for _ in range(calls)]
    try:
        await asyncio.gather(*(caller.join() for caller in callers))
        await asyncio.gather(
            *(caller.wait_for_agent(agent_timeout) for caller in callers if not caller.record.error)
        )
    finally:
        await asyncio.gather(*(caller.hang_up() for caller in callers), return_exceptions=True)
    return [caller.record for caller in callers]
