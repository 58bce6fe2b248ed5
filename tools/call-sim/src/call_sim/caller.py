"""The simulated caller: a LiveKit rtc participant that talks and listens like a phone caller.

It gets a token from the token service (which also dispatches the receptionist), joins the
room, and keeps a microphone track running for the whole call: 10 ms frames of 48 kHz audio
paced by the clock, silence when it is not speaking, like a real microphone. It listens to
the receptionist's audio track and finds where speech starts and stops by its energy.

Per caller turn it records the latency as the caller experienced it: from the end of its
last voiced audio frame leaving the microphone buffer to the first voiced frame of the
receptionist's reply arriving. It waits for the receptionist to finish (the agent's
`lk.agent.state` back to `listening` and its audio quiet) before the next turn, with
timeouts.

It also keeps the session events the agent publishes to the room on `lk.agent.session`
(LiveKit Agents' session protocol): the conversation as the agent recorded it (what it
heard, what it said, with its own per-turn metrics) and every tool it executed with the
tool's output and whether it failed. That is the agent's own account of the call, not a
guess from the outside.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx
import numpy as np
from google.protobuf.json_format import MessageToDict
from livekit import rtc
from livekit.protocol.agent_pb import agent_session

from call_sim.voice import FRAME_SAMPLES, SAMPLE_RATE, Pcm

logger = logging.getLogger(__name__)

BLOCK_SECONDS = FRAME_SAMPLES / SAMPLE_RATE  # speech is judged in 10 ms blocks
# Audio crosses the rtc FFI in 20 ms frames each way: half the Python work of 10 ms frames
# (the simulated callers share the machine with the system under test), while every
# timestamp still comes from the 10 ms block inside the frame it belongs to.
BLOCKS_PER_FRAME = 2
FRAME_SECONDS = BLOCK_SECONDS * BLOCKS_PER_FRAME
AGENT_STATE_ATTRIBUTE = "lk.agent.state"
SESSION_TOPIC = "lk.agent.session"
AGENT_JOIN_TIMEOUT_SECONDS = 30.0
ROOM_SID_TIMEOUT_SECONDS = 10.0
NO_RECEPTIONIST = "no receptionist joined"
MAX_REPLY_SECONDS = 90.0
_MIC_QUEUE_MS = 100


@dataclass(frozen=True)
class CallerTiming:
    turn_timeout_seconds: float = 20.0  # caller stopped → receptionist must start by then
    pause_seconds: float = 0.4  # think time before each turn
    agent_quiet_seconds: float = 0.7  # receptionist audio quiet this long = finished
    speech_threshold_dbfs: float = -40.0


@dataclass(frozen=True)
class PlannedTurn:
    text: str
    audio: Pcm
    pause_seconds: float | None = None


@dataclass
class TurnResult:
    index: int
    text: str
    speech_seconds: float
    started_at: float
    stopped_at: float
    agent_audio_at: float | None = None
    agent_finished_at: float | None = None

    @property
    def latency_ms(self) -> float | None:
        if self.agent_audio_at is None:
            return None
        return (self.agent_audio_at - self.stopped_at) * 1000.0


@dataclass(frozen=True)
class SessionEvent:
    """One event of the agent's session, as a plain dict (protobuf JSON names)."""

    received_at: float
    event: dict[str, object]


@dataclass
class CallRecord:
    room_name: str = ""
    room_sid: str = ""  # the worker's call id: its call record is stored under it
    caller_identity: str = ""
    connected_at: float = 0.0
    wall_offset: float = 0.0  # add to a monotonic reading to get wall-clock time
    agent_joined_at: float | None = None
    greeting_audio_at: float | None = None
    turns: list[TurnResult] = field(default_factory=list)
    session_events: list[SessionEvent] = field(default_factory=list)
    agent_speech: list[tuple[float, float]] = field(default_factory=list)
    ended_by: str | None = None
    ended_at: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def greeting_latency_ms(self) -> float | None:
        if self.greeting_audio_at is None or self.agent_joined_at is None:
            return None
        return (self.greeting_audio_at - self.agent_joined_at) * 1000.0


class _AgentEar:
    """Energy-based detection of the receptionist's speech on its audio track."""

    def __init__(self, threshold_dbfs: float) -> None:
        self._threshold = 32768.0 * 10 ** (threshold_dbfs / 20.0)
        self.onsets: list[float] = []
        self.speech: list[tuple[float, float]] = []
        self.last_voiced_at: float | None = None
        self._in_speech = False
        self._speech_started = 0.0
        self.heard = asyncio.Event()  # set on every onset; cleared by waiters

    def frame(self, samples: Pcm, at: float) -> None:
        rms = (
            math.sqrt(float(np.mean(np.square(samples.astype(np.float64))))) if samples.size else 0
        )
        if rms >= self._threshold:
            if not self._in_speech:
                self._in_speech = True
                self._speech_started = at
                self.onsets.append(at)
                self.heard.set()
            self.last_voiced_at = at
        elif self._in_speech and self.last_voiced_at is not None and at - self.last_voiced_at > 0.3:
            self._in_speech = False
            self.speech.append((self._speech_started, self.last_voiced_at))

    def close(self) -> None:
        if self._in_speech and self.last_voiced_at is not None:
            self.speech.append((self._speech_started, self.last_voiced_at))
            self._in_speech = False

    def first_onset_after(self, moment: float) -> float | None:
        return next((onset for onset in self.onsets if onset >= moment), None)

    def quiet_for(self, now: float) -> float:
        return math.inf if self.last_voiced_at is None else now - self.last_voiced_at


class _Microphone:
    """A 48 kHz track fed every 10 ms: queued speech when there is some, silence otherwise."""

    def __init__(self, threshold_dbfs: float) -> None:
        self.source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=_MIC_QUEUE_MS)
        self._frames: deque[tuple[Pcm, float | None]] = deque()
        self._threshold = 32768.0 * 10 ** (threshold_dbfs / 20.0)
        self._speaking: asyncio.Future[float] | None = None
        self._last_voiced_end = 0.0
        self._silence = np.zeros(FRAME_SAMPLES * BLOCKS_PER_FRAME, dtype=np.int16)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._pump(), name="microphone")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.source.aclose()

    def say(self, audio: Pcm) -> asyncio.Future[float]:
        """Queue speech; the future resolves with the moment its last voiced audio left."""
        frame_samples = FRAME_SAMPLES * BLOCKS_PER_FRAME
        padded = np.concatenate(
            [audio, np.zeros(-audio.size % frame_samples, dtype=np.int16)]
        ).astype(np.int16)
        for frame in padded.reshape(-1, frame_samples):
            blocks = frame.reshape(BLOCKS_PER_FRAME, FRAME_SAMPLES).astype(np.float64)
            levels = np.sqrt(np.mean(np.square(blocks), axis=1))
            voiced = np.flatnonzero(levels >= self._threshold)
            # seconds from the frame's start to the end of its last voiced block
            voiced_end = None if voiced.size == 0 else (int(voiced[-1]) + 1) * BLOCK_SECONDS
            self._frames.append((frame.copy(), voiced_end))
        self._speaking = asyncio.get_running_loop().create_future()
        return self._speaking

    async def _pump(self) -> None:
        next_due = time.monotonic()
        while True:
            if self._frames:
                frame, voiced_end = self._frames.popleft()
            else:
                frame, voiced_end = self._silence, None
            await self.source.capture_frame(
                rtc.AudioFrame(frame.tobytes(), SAMPLE_RATE, 1, frame.size)
            )
            if voiced_end is not None:
                # the frame leaves once everything queued before it (and it) has been sent
                frame_end = time.monotonic() + self.source.queued_duration
                self._last_voiced_end = frame_end - FRAME_SECONDS + voiced_end
            if not self._frames and self._speaking is not None and not self._speaking.done():
                self._speaking.set_result(self._last_voiced_end)
            next_due += FRAME_SECONDS
            delay = next_due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.2:
                next_due = time.monotonic()  # the loop stalled: do not burst to catch up


class Caller:
    """One simulated call. `call()` runs it and returns what happened."""

    def __init__(
        self,
        token_service_url: str,
        clinic_id: str,
        timing: CallerTiming,
        *,
        identity: str | None = None,
    ) -> None:
        self._token_url = token_service_url.rstrip("/") + "/v1/token"
        self._clinic_id = clinic_id
        self._timing = timing
        self._identity = identity or f"caller-{secrets.token_hex(4)}"
        self._room = rtc.Room()
        self._ear = _AgentEar(timing.speech_threshold_dbfs)
        self._record = CallRecord(caller_identity=self._identity)
        self._agent_identity: str | None = None
        self._agent_state = ""
        self._agent_joined = asyncio.Event()
        self._disconnected = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._events: list[SessionEvent] = []

    # ---- room events ----------------------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None], name: str) -> None:
        task = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _wire(self) -> None:
        room = self._room

        @room.on("participant_connected")
        def _joined(participant: rtc.RemoteParticipant) -> None:
            self._notice_participant(participant)

        @room.on("participant_attributes_changed")
        def _attributes(changed: dict[str, str], participant: rtc.Participant) -> None:
            if participant.identity == self._agent_identity and AGENT_STATE_ATTRIBUTE in changed:
                self._agent_state = changed[AGENT_STATE_ATTRIBUTE]

        @room.on("track_subscribed")
        def _subscribed(
            track: rtc.Track,
            _publication: rtc.RemoteTrackPublication,
            participant: rtc.RemoteParticipant,
        ) -> None:
            if track.kind == rtc.TrackKind.KIND_AUDIO:
                self._notice_participant(participant)
                self._spawn(self._listen(track), "agent-audio")

        @room.on("disconnected")
        def _gone(_reason: object = None) -> None:
            self._disconnected.set()

        room.register_byte_stream_handler(SESSION_TOPIC, self._on_session_stream)

    def _notice_participant(self, participant: rtc.Participant) -> None:
        if participant.kind != rtc.ParticipantKind.PARTICIPANT_KIND_AGENT:
            return
        if self._agent_identity is None:
            self._agent_identity = participant.identity
            self._record.agent_joined_at = time.monotonic()
        self._agent_state = participant.attributes.get(AGENT_STATE_ATTRIBUTE, self._agent_state)
        self._agent_joined.set()

    async def _listen(self, track: rtc.Track) -> None:
        stream = rtc.AudioStream(
            track,
            sample_rate=SAMPLE_RATE,
            num_channels=1,
            frame_size_ms=round(FRAME_SECONDS * 1000),
        )
        try:
            async for event in stream:
                samples: Pcm = np.frombuffer(event.frame.data, dtype=np.int16)
                self._ear.frame(samples, time.monotonic())
        finally:
            await stream.aclose()

    def _on_session_stream(self, reader: rtc.ByteStreamReader, _identity: str) -> None:
        self._spawn(self._read_session_message(reader), "session-event")

    async def _read_session_message(self, reader: rtc.ByteStreamReader) -> None:
        received = time.monotonic()
        try:
            data = b"".join([chunk async for chunk in reader])
        except Exception as error:  # a stream cut by the hang-up: nothing to keep
            logger.debug("session event stream ended early", extra={"reason": str(error)})
            return
        message = agent_session.AgentSessionMessage()
        try:
            message.ParseFromString(data)
        except Exception:
            logger.warning("undecodable agent session message ignored")
            return
        if message.HasField("event"):
            self._events.append(SessionEvent(received, MessageToDict(message.event)))

    # ---- the call -------------------------------------------------------------------------

    async def _token(self) -> tuple[str, str, str]:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.post(self._token_url, json={"clinic_id": self._clinic_id})
        if response.status_code != 201:
            raise RuntimeError(f"token service answered {response.status_code}: {response.text}")
        body = response.json()
        return str(body["server_url"]), str(body["participant_token"]), str(body["room_name"])

    async def call(
        self,
        turns: Sequence[PlannedTurn],
        *,
        before_turn: Callable[[int], Awaitable[None]] | None = None,
        listen_after_seconds: float = 8.0,
        turn_gate: Callable[[int], Awaitable[None]] | None = None,
    ) -> CallRecord:
        """Run the whole call. `turn_gate` lets a benchmark hold every caller at a barrier."""
        record = self._record
        server_url, token, record.room_name = await self._token()
        self._wire()
        microphone = _Microphone(self._timing.speech_threshold_dbfs)
        try:
            await self._room.connect(server_url, token)
            record.connected_at = time.monotonic()
            record.room_sid = await asyncio.wait_for(self._room.sid, ROOM_SID_TIMEOUT_SECONDS)
            record.wall_offset = time.time() - time.monotonic()
            track = rtc.LocalAudioTrack.create_audio_track("microphone", microphone.source)
            options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
            await self._room.local_participant.publish_track(track, options)
            microphone.start()
            for participant in self._room.remote_participants.values():
                self._notice_participant(participant)
            await self._conversation(turns, microphone, before_turn, turn_gate)
            await self._wait_for_hang_up(listen_after_seconds)
        except Exception as error:
            record.errors.append(f"{type(error).__name__}: {error}")
        finally:
            record.ended_at = time.monotonic()
            await microphone.close()
            await self._room.disconnect()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._ear.close()
            record.agent_speech = list(self._ear.speech)
            record.session_events = sorted(self._events, key=lambda e: e.received_at)
        return record

    async def _conversation(
        self,
        turns: Sequence[PlannedTurn],
        microphone: _Microphone,
        before_turn: Callable[[int], Awaitable[None]] | None,
        turn_gate: Callable[[int], Awaitable[None]] | None,
    ) -> None:
        record = self._record
        try:
            await asyncio.wait_for(self._agent_joined.wait(), AGENT_JOIN_TIMEOUT_SECONDS)
        except TimeoutError:
            raise RuntimeError(
                f"{NO_RECEPTIONIST} within {AGENT_JOIN_TIMEOUT_SECONDS:.0f} s"
            ) from None
        assert record.agent_joined_at is not None
        record.greeting_audio_at = await self._wait_for_onset(record.agent_joined_at)
        if record.greeting_audio_at is None:
            record.errors.append("the receptionist did not greet the caller")
            return
        await self._wait_until_agent_finished()
        for index, turn in enumerate(turns):
            if self._disconnected.is_set():
                record.errors.append(f"the call ended before caller turn {index + 1}")
                return
            if turn_gate is not None:
                await turn_gate(index)
            pause = self._timing.pause_seconds if turn.pause_seconds is None else turn.pause_seconds
            await asyncio.sleep(pause)
            if before_turn is not None:
                await before_turn(index)
            started = time.monotonic()
            stopped = await microphone.say(turn.audio)
            result = TurnResult(
                index=index,
                text=turn.text,
                speech_seconds=turn.audio.size / SAMPLE_RATE,
                started_at=started,
                stopped_at=stopped,
            )
            record.turns.append(result)
            result.agent_audio_at = await self._wait_for_onset(stopped)
            if result.agent_audio_at is None:
                record.errors.append(
                    f"no reply to caller turn {index + 1} within "
                    f"{self._timing.turn_timeout_seconds:.0f} s"
                )
                return
            result.agent_finished_at = await self._wait_until_agent_finished()

    async def _wait_for_onset(self, after: float) -> float | None:
        deadline = after + self._timing.turn_timeout_seconds
        while True:
            onset = self._ear.first_onset_after(after)
            if onset is not None:
                return onset
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self._disconnected.is_set():
                return None
            self._ear.heard.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ear.heard.wait(), min(remaining, 0.5))

    async def _wait_until_agent_finished(self) -> float:
        """The receptionist is done: listening again and quiet, or the call is over."""
        deadline = time.monotonic() + MAX_REPLY_SECONDS
        quiet = self._timing.agent_quiet_seconds
        while time.monotonic() < deadline and not self._disconnected.is_set():
            now = time.monotonic()
            listening = self._agent_state in ("", "listening", "idle")
            if listening and self._ear.quiet_for(now) >= quiet:
                break
            await asyncio.sleep(0.05)
        return self._ear.last_voiced_at or time.monotonic()

    async def _wait_for_hang_up(self, seconds: float) -> None:
        """Stay on the line after the last turn; the receptionist may say goodbye and hang up."""
        try:
            await asyncio.wait_for(self._disconnected.wait(), seconds)
            self._record.ended_by = "agent"
        except TimeoutError:
            self._record.ended_by = "caller"
