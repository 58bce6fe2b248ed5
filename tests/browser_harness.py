"""The browser side of the web-client tests: a headless Chromium driven through
web/tests/browser-driver.mjs, a LiveKit room seen as a client, and a stand-in receptionist.

Chromium (Debian's, offline) loads pages through playwright-core: one JSON command per
line to the driver, one answer back (`Browser`, `Page`). `StandInReceptionist` joins a real
LiveKit room with the rtc SDK and an agent grant and does what LiveKit Agents 1.x's RoomIO
does for our agent (see `livekit/agents/voice/room_io/_output.py`): it checks what the
caller's microphone said (pocketsphinx), speaks, sets `lk.agent.state` and sends
`lk.transcription` text streams. The servers themselves come from `call_sim.stack`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import time
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from call_sim.stack import LiveKitServer, die_with_parent
from livekit import api, rtc
from numpy.typing import NDArray

REPO_ROOT = Path(__file__).resolve().parents[1]
WEB_DIR = REPO_ROOT / "web"
DIST_DIR = WEB_DIR / "dist"
DRIVER = WEB_DIR / "tests" / "browser-driver.mjs"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class LiveKit:
    """Where a LiveKit server listens and the key pair its tokens are signed with."""

    url: str
    http_url: str
    api_key: str
    api_secret: str

    def agent_token(self, identity: str, room: str) -> str:
        """A token with the agent grant, so the server marks the participant kind AGENT."""
        # publish, subscribe and data are on by default
        grants = api.VideoGrants(
            room_join=True, room=room, can_update_own_metadata=True, agent=True
        )
        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_kind("agent")
            .with_grants(grants)
            .with_ttl(timedelta(minutes=10))
            .to_jwt()
        )

    @classmethod
    def of(cls, server: LiveKitServer) -> LiveKit:
        return cls(server.url, server.http_url, server.api_key, server.api_secret)

    async def room_names(self) -> set[str]:
        async with api.LiveKitAPI(self.http_url, self.api_key, self.api_secret) as lkapi:
            response = await lkapi.room.list_rooms(api.ListRoomsRequest())
            return {room.name for room in response.rooms}

    async def set_dispatch_status(self, room: str, status: str) -> None:
        """What the token service's dispatch watchdog does to tell the caller."""
        metadata = json.dumps({"lk.dispatch.status": status})
        async with api.LiveKitAPI(self.http_url, self.api_key, self.api_secret) as lkapi:
            await lkapi.room.update_room_metadata(
                api.UpdateRoomMetadataRequest(room=room, metadata=metadata)
            )

    async def new_room(self, known: set[str], within: float = 15) -> str:
        """The room a page created after `known` was listed (token rooms are random)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            new = await self.room_names() - known
            if new:
                return new.pop()
            await asyncio.sleep(0.1)
        raise AssertionError("the page never created a LiveKit room")


def speak(voice: Any, text: str) -> NDArray[np.int16]:
    """`text` as 48 kHz mono int16, the rate LiveKit and Chromium work at."""
    chunks = list(voice.synthesize(text))
    pcm = np.concatenate([chunk.audio_int16_array for chunk in chunks]).astype(np.float64)
    rate = int(chunks[0].sample_rate)
    count = round(len(pcm) * SAMPLE_RATE / rate)
    positions = np.arange(count) * (rate / SAMPLE_RATE)
    resampled: NDArray[np.float64] = np.interp(positions, np.arange(len(pcm)), pcm)
    return np.clip(resampled, -32768, 32767).astype(np.int16)


def write_wav(path: Path, *parts: NDArray[np.int16]) -> Path:
    """16-bit PCM mono WAV at 48 kHz (Chromium's capture rate) of `parts` in a row."""
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(np.concatenate(parts).tobytes())
    return path


def recognise(pcm16k: NDArray[np.int16]) -> str:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000)
    decoder.start_utt()
    decoder.process_raw(pcm16k.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return str(hypothesis.hypstr).lower() if hypothesis else ""


async def tokens_issued(base_url: str) -> float:
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{base_url}/metrics", timeout=5)).text
    match = re.search(r'^token_service_tokens_total\{outcome="issued"\} (\S+)$', metrics, re.M)
    assert match, "token_service_tokens_total{outcome=issued} is missing from /metrics"
    return float(match.group(1))


class BrowserError(AssertionError):
    pass


class Browser:
    """Talks to web/tests/browser-driver.mjs: one JSON command per line, one answer back."""

    def __init__(self, process: asyncio.subprocess.Process, log_path: Path) -> None:
        self.process = process
        self.log_path = log_path
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    @classmethod
    async def launch(cls, extra_args: list[str], log_path: Path) -> Browser:
        env = {
            **os.environ,
            "CHROMIUM_PATH": str(CHROMIUM),
            "BROWSER_EXTRA_ARGS": json.dumps(extra_args),
        }
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *die_with_parent(["node", str(DRIVER)]),
                cwd=WEB_DIR,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=2**22,
            )
        return cls(process, log_path)

    async def command(self, op: str, **params: Any) -> Any:
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        async with self._lock:
            request = {"id": next(self._ids), "op": op, **params}
            stdin.write(json.dumps(request).encode() + b"\n")
            await stdin.drain()
            async with asyncio.timeout(60):
                line = await stdout.readline()
        if not line:
            raise BrowserError(f"the browser driver exited:\n{self.log_path.read_text()}")
        reply = json.loads(line)
        if not reply["ok"]:
            raise BrowserError(f"{op} failed: {reply['error']}")
        return reply["result"]

    async def new_page(
        self,
        width: int = 1280,
        height: int = 860,
        *,
        microphone: bool = True,
        reduced_motion: bool = False,
    ) -> Page:
        """A tab in a fresh context (own cache and permissions); `microphone` is pre-granted."""
        page_id = await self.command(
            "newPage",
            viewport={"width": width, "height": height},
            microphone=microphone,
            reducedMotion="reduce" if reduced_motion else "no-preference",
        )
        return Page(self, str(page_id))

    async def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            async with asyncio.timeout(15):
                await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


@dataclass
class Page:
    browser: Browser
    page_id: str

    async def _do(self, op: str, **params: Any) -> Any:
        try:
            return await self.browser.command(op, page=self.page_id, **params)
        except BrowserError as exc:
            lines = await self.browser.command("console", page=self.page_id)
            raise BrowserError(f"{exc}\npage console:\n" + "\n".join(lines[-30:])) from None

    async def goto(self, url: str) -> int:
        return int(await self._do("goto", url=url))

    async def reload(self) -> None:
        await self._do("reload")

    async def resize(self, width: int, height: int) -> None:
        await self._do("resize", viewport={"width": width, "height": height})

    async def click(self, selector: str) -> None:
        await self._do("click", selector=selector)

    async def press(self, key: str) -> None:
        await self._do("press", key=key)

    async def wait_for(
        self,
        selector: str,
        *,
        has_text: str | None = None,
        state: str = "visible",
        within: float = 10,
    ) -> None:
        params: dict[str, Any] = {"selector": selector, "state": state, "timeout": within * 1000}
        if has_text is not None:
            params["hasText"] = has_text
        await self._do("waitFor", **params)

    async def text(self, selector: str) -> str:
        return str(await self._do("text", selector=selector))

    async def probe(self, name: str, arg: Any = None) -> Any:
        """Runs one of the driver's in-page `probes` and returns its JSON result."""
        return await self._do("probe", name=name, arg=arg)

    async def screenshot(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        await self._do("screenshot", path=str(path))
        return path

    async def status(self) -> str:
        return await self.text(".bsc-status-label")

    async def transcript(self, speaker: str) -> list[dict[str, str]]:
        lines: list[dict[str, str]] = await self.probe("transcript", speaker)
        return lines

    async def assert_accessible(self, state: str) -> None:
        """axe-core (web/package.json) finds no violation of any impact on the page."""
        violations = await self._do("axe")
        assert violations == [], f"axe-core, {state}: " + json.dumps(violations, indent=1)

    async def assert_contrast(self) -> None:
        """Every visible text in the widget meets WCAG AA against its background."""
        result = await self.probe("contrast")
        assert result["checked"] >= 3, result
        assert result["failures"] == [], result["failures"]

    async def close(self) -> None:
        await self.browser.command("closePage", page=self.page_id)


def button(name: str) -> str:
    """A Playwright role selector for the button whose accessible name is exactly `name`."""
    return f'role=button[name="{name}" s]'


async def wait_until(check: Callable[[], Awaitable[Any]], within: float = 10) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {within}s; last value {value!r}")
        await asyncio.sleep(0.1)


class StandInReceptionist:
    """Does over a real LiveKit room what LiveKit Agents 1.x's RoomIO does for our agent."""

    def __init__(self, livekit: LiveKit, room_name: str) -> None:
        self.livekit = livekit
        self.room_name = room_name
        self.room = rtc.Room()
        self.caller: rtc.RemoteParticipant | None = None
        self.caller_track: rtc.RemoteAudioTrack | None = None
        self.caller_track_ready = asyncio.Event()
        self.caller_muted = asyncio.Event()
        self.caller_unmuted = asyncio.Event()
        self.caller_left = asyncio.Event()
        self.source = rtc.AudioSource(SAMPLE_RATE, 1, queue_size_ms=200)
        self.voice_track_sid = ""

    async def join(self) -> None:
        self.room.on("track_subscribed", self._on_track_subscribed)
        self.room.on("track_muted", lambda *_: self.caller_muted.set())
        self.room.on("track_unmuted", lambda *_: self.caller_unmuted.set())
        self.room.on("participant_disconnected", lambda *_: self.caller_left.set())
        token = self.livekit.agent_token("agent-standin", self.room_name)
        await self.room.connect(self.livekit.url, token)
        await self.set_state("initializing")
        track = rtc.LocalAudioTrack.create_audio_track("receptionist-voice", self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        publication = await self.room.local_participant.publish_track(track, options)
        self.voice_track_sid = publication.sid

    def _on_track_subscribed(
        self, track: rtc.Track, _pub: rtc.RemoteTrackPublication, who: rtc.RemoteParticipant
    ) -> None:
        if isinstance(track, rtc.RemoteAudioTrack):
            self.caller, self.caller_track = who, track
            self.caller_track_ready.set()

    async def set_state(self, state: str) -> None:
        await self.room.local_participant.set_attributes({"lk.agent.state": state})

    async def hear_caller(self, seconds: float) -> str:
        """What the caller's microphone said over `seconds`, as pocketsphinx understood it."""
        async with asyncio.timeout(10):
            await self.caller_track_ready.wait()
        assert self.caller_track is not None
        stream = rtc.AudioStream(self.caller_track, sample_rate=16000, num_channels=1)
        frames: list[NDArray[np.int16]] = []
        deadline = time.monotonic() + seconds
        async for event in stream:
            frames.append(np.frombuffer(event.frame.data, dtype=np.int16).copy())
            if time.monotonic() > deadline:
                break
        await stream.aclose()
        return await asyncio.to_thread(recognise, np.concatenate(frames))

    async def caller_said(self, text: str) -> None:
        """The caller's transcript as the agent sends it: a stream per interim result, each
        with the whole text so far and the same segment id, the last one final."""
        assert self.caller is not None
        assert self.caller_track is not None
        words = text.split()
        for count in range(1, len(words) + 1):
            writer = await self.room.local_participant.stream_text(
                topic="lk.transcription",
                sender_identity=self.caller.identity,
                attributes={
                    "lk.segment_id": "SG_caller_1",
                    "lk.transcribed_track_id": self.caller_track.sid,
                    "lk.transcription_final": "true" if count == len(words) else "false",
                },
            )
            await writer.write(" ".join(words[:count]))
            await writer.aclose()
            await asyncio.sleep(0.05)

    async def speak(self, pcm: NDArray[np.int16], text: str) -> None:
        """Plays `pcm` while streaming its transcript word by word in ONE delta stream, closed
        with `lk.transcription_final: true`, as the agent does for its own speech."""
        await self.set_state("speaking")
        writer = await self.room.local_participant.stream_text(
            topic="lk.transcription",
            attributes={
                "lk.segment_id": "SG_agent_1",
                "lk.transcribed_track_id": self.voice_track_sid,
                "lk.transcription_final": "false",
            },
        )
        words = text.split()
        samples_per_word = len(pcm) // len(words)
        frame = SAMPLE_RATE // 100
        for index, word in enumerate(words):
            await writer.write(word if index == 0 else f" {word}")
            chunk = pcm[index * samples_per_word : (index + 1) * samples_per_word]
            chunk = np.pad(chunk, (0, -len(chunk) % frame))
            for start in range(0, len(chunk), frame):
                data = chunk[start : start + frame].tobytes()
                await self.source.capture_frame(rtc.AudioFrame(data, SAMPLE_RATE, 1, frame))
        await self.source.wait_for_playout()
        await writer.aclose(attributes={"lk.transcription_final": "true"})
        await self.set_state("listening")

    async def leave(self) -> None:
        await self.room.disconnect()
