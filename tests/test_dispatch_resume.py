"""A worker killed mid-call (SIGKILL of the whole worker process, as when a node is lost)
costs the caller one apology, not the call: LiveKit's server (v1.13.5) does not act on a
dispatch's restart policy, so the token service's dispatch watchdog sees the receptionist
leave without ending the call and dispatches a resumed one (`"resumed": true`) to the
other worker, which opens with the apology.

A web caller rides the same resume: the page says "reconnecting you" while the watchdog
brings the other worker's receptionist, stays in the room, and carries on with it.

And a rollout never cuts a call: SIGTERM drains a worker, its call goes on, and a call
placed during the drain goes to the other worker.
"""

from __future__ import annotations

import json
import secrets
import signal
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from browser_harness import CHROMIUM, DIST_DIR, Browser, button, wait_until
from call_sim.waiting import WaitingCaller
from call_sim.worker_metrics import parse
from livekit import api

pytestmark = pytest.mark.slow

# generous: two shared cores
AGENT_TIMEOUT_SECONDS = 60.0


@pytest.fixture(scope="module")
def running_stack(
    tmp_path_factory: pytest.TempPathFactory,
    call_stack_launcher: Callable[..., AbstractContextManager[Any]],
) -> Iterator[Any]:
    """Two workers; a long silence timeout, so no receptionist ends a quiet call itself."""
    with call_stack_launcher(
        tmp_path_factory.mktemp("resume-stack"),
        workers=2,
        max_calls_per_worker=2,
        silence_timeout_seconds=60.0,
    ) as running:
        yield running


@pytest.fixture
def stack(running_stack: Any) -> Any:
    """The module's stack with both workers up (a test before may have killed one)."""
    for name in running_stack.worker_names:
        if not running_stack.component(name).running():
            running_stack.restart(name)
    return running_stack


def _active_calls(stack: Any, worker: str) -> float:
    if not stack.component(worker).running():
        return 0.0
    _health, metrics_url = stack.worker_urls(worker)
    samples = parse(httpx.get(metrics_url, timeout=10).text)
    return samples.get(("receptionist_active_sessions", ()), 0.0)


def _receptionists_lost(stack: Any, detected_by: str) -> float:
    """The watchdog's count of receptionists lost mid-call, by what noticed it."""
    text = httpx.get(f"{stack.service_url('token-service')}/metrics", timeout=10).text
    series = ("dispatch_watchdog_receptionists_lost_total", (("detected_by", detected_by),))
    return parse(text).get(series, 0.0)


def _worker_with_the_call(stack: Any) -> str:
    """The one worker with the call. On a loaded machine the watchdog may have brought a
    second receptionist to a slow-starting call; it leaves on finding the first, so allow
    it a few seconds to go."""
    deadline = time.monotonic() + 20
    while True:
        busy = [w for w in stack.worker_names if _active_calls(stack, w) >= 1]
        if len(busy) == 1 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(busy) == 1, f"expected the call on one worker, saw {busy}"
    return busy[0]


async def test_a_call_survives_its_worker_being_killed(stack: Any) -> None:
    caller = WaitingCaller(stack.urls.token_service)
    try:
        await caller.join()
        assert await caller.wait_for_agent(AGENT_TIMEOUT_SECONDS), "never got a receptionist"
        assert await caller.wait_for_words("thank you for calling", AGENT_TIMEOUT_SECONDS)
        first = caller.record.agent_identity
        doomed = _worker_with_the_call(stack)
        by_heartbeat = _receptionists_lost(stack, "heartbeat")
        by_livekit = _receptionists_lost(stack, "livekit")
        stack.component(doomed).process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        stack.component(doomed).process.wait()
        apologiser = await caller.wait_for_words("sorry, we were cut off", AGENT_TIMEOUT_SECONDS)
        assert apologiser is not None, f"no apology: {caller.record}"
        print(f"SIGKILL → the resumed apology heard: {time.monotonic() - killed_at:.1f} s")
        assert apologiser != first
        survivor = next(w for w in stack.worker_names if w != doomed)
        assert _active_calls(stack, survivor) == 1.0
        # the dead worker's silence gave it away, not LiveKit's ~20 s connection timeout
        assert _receptionists_lost(stack, "heartbeat") == by_heartbeat + 1
        assert _receptionists_lost(stack, "livekit") == by_livekit
    finally:
        await caller.hang_up()


def _book_a_cleaning(stack: Any, phone: str) -> dict[str, Any]:
    """The booking the first receptionist made before its worker died."""
    base = f"{stack.urls.scheduling_api}/v1/clinics/bright-smile"
    headers = {"Authorization": f"Bearer {stack.scheduling_token}"}
    slots = httpx.get(
        f"{base}/availability",
        params={"appointment_type": "cleaning", "days": 14},
        headers=headers,
        timeout=10,
    )
    slots.raise_for_status()
    slot = slots.json()["slots"][0]
    booked = httpx.post(
        f"{base}/bookings",
        json={"slot_id": slot["slot_id"], "patient": {"name": "Maria Garcia", "phone": phone}},
        headers=headers | {"Idempotency-Key": secrets.token_hex(8)},
        timeout=10,
    )
    booked.raise_for_status()
    result: dict[str, Any] = booked.json()
    return result


def _phone_caller_token(stack: Any, room: str, phone: str) -> str:
    """What LiveKit SIP gives a phone caller: kind sip, the number as an attribute, and
    the receptionist's dispatch (as the inbound dispatch rule would)."""
    grants = api.VideoGrants(room_join=True, room=room, can_publish=True, can_subscribe=True)
    dispatch = api.RoomAgentDispatch(
        agent_name=stack.agent_name, metadata=json.dumps({"clinic_id": "bright-smile"})
    )
    return (
        api.AccessToken(stack.livekit_api_key, stack.livekit_secret)
        .with_identity("sip-caller")
        .with_kind("sip")
        .with_attributes({"sip.phoneNumber": phone})
        .with_grants(grants)
        .with_room_config(api.RoomConfiguration(agents=[dispatch]))
        .to_jwt()
    )


async def test_a_phone_caller_cut_off_hears_what_was_booked(stack: Any) -> None:
    phone = "+15125550142"
    _book_a_cleaning(stack, phone)
    room = f"call-{secrets.token_hex(6)}"
    caller = WaitingCaller(stack.urls.token_service)
    try:
        await caller.join_with(stack.urls.livekit_ws, _phone_caller_token(stack, room, phone), room)
        assert await caller.wait_for_agent(AGENT_TIMEOUT_SECONDS), "never got a receptionist"
        assert await caller.wait_for_words("thank you for calling", AGENT_TIMEOUT_SECONDS)
        doomed = _worker_with_the_call(stack)
        stack.component(doomed).process.send_signal(signal.SIGKILL)
        stack.component(doomed).process.wait()
        apologiser = await caller.wait_for_words("sorry, we were cut off", AGENT_TIMEOUT_SECONDS)
        assert apologiser is not None, f"no apology: {caller.record}"
        apology = next(text for who, text in caller.record.said if who == apologiser)
        assert "your cleaning" in apology.lower(), apology
        assert "is booked" in apology, apology
    finally:
        await caller.hang_up()


async def test_a_draining_worker_finishes_its_call_and_takes_no_new_one(stack: Any) -> None:
    first = WaitingCaller(stack.urls.token_service)
    second = WaitingCaller(stack.urls.token_service)
    try:
        await first.join()
        assert await first.wait_for_agent(AGENT_TIMEOUT_SECONDS), "never got a receptionist"
        draining = _worker_with_the_call(stack)
        other = next(w for w in stack.worker_names if w != draining)
        stack.component(draining).process.send_signal(signal.SIGTERM)  # a rollout
        await second.join()
        assert await second.wait_for_agent(AGENT_TIMEOUT_SECONDS), "the second caller waited"
        assert _active_calls(stack, other) == 1.0  # the new call went to the other worker
        assert stack.component(draining).running(), "the draining worker cut its call"
        assert _active_calls(stack, draining) == 1.0
        assert first.record.agents == [first.record.agent_identity]  # never re-dispatched
    finally:
        await first.hang_up()
        await second.hang_up()
    # once its call ends, the drained worker exits cleanly
    stack.component(draining).process.wait(timeout=60)
    assert stack.component(draining).process.returncode == 0


def _silent_wav(path: Path, seconds: float = 30.0) -> Path:
    """The web caller's fake microphone: silence, so it never starts a turn of its own."""
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(b"\x00\x00" * int(16_000 * seconds))
    return path


async def test_a_web_caller_is_reconnected_when_its_receptionist_is_lost(
    stack: Any, tmp_path: Path
) -> None:
    """The page stays in the room through the loss ("reconnecting you"), then the resumed
    receptionist's apology is shown and heard, and the caller can still hang up."""
    assert (DIST_DIR / "index.html").is_file(), "web/dist is not built: run `make web`"
    assert CHROMIUM.is_file(), f"no Chromium at {CHROMIUM}"
    origin = stack.urls.token_service
    browser = await Browser.launch(
        [
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-audio-capture={_silent_wav(tmp_path / 'silence.wav')}",
        ],
        tmp_path / "browser-driver.log",
    )
    page = await browser.new_page()
    try:
        assert await page.goto(f"{origin}/?clinic_id=bright-smile") == 200, "no page served"
        await page.click(button("Call"))
        await page.wait_for(
            ".bsc-line--receptionist",
            has_text="Thank you for calling",
            within=AGENT_TIMEOUT_SECONDS,
        )
        doomed = _worker_with_the_call(stack)
        stack.component(doomed).process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        stack.component(doomed).process.wait()

        await page.wait_for(
            ".bsc-status-detail", has_text="reconnecting you", within=AGENT_TIMEOUT_SECONDS
        )
        noticed_after = time.monotonic() - killed_at
        await page.wait_for(button("Hang up"))  # still in the call
        await page.wait_for(
            ".bsc-line--receptionist",
            has_text="Sorry, we were cut off",
            within=AGENT_TIMEOUT_SECONDS,
        )
        resumed_after = time.monotonic() - killed_at
        # the page carries no phone number: the apology asks rather than claims a check
        await page.wait_for(
            ".bsc-line--receptionist", has_text="your full name and the phone number", within=20
        )
        print(
            f"SIGKILL → page says reconnecting: {noticed_after:.1f} s; "
            f"→ resumed apology on the page: {resumed_after:.1f} s"
        )

        async def apology_audible() -> dict[str, Any] | None:
            audio: dict[str, Any] = await page.probe("agentAudio")
            return audio if audio["found"] and audio["peak"] > 0.05 else None

        await wait_until(apology_audible, within=20)
        assert await page.probe("attachedAudio") == 1  # the lost receptionist's is gone
        assert await page.status() in {"Speaking", "Listening"}, await page.status()
        survivor = next(w for w in stack.worker_names if w != doomed)
        assert _active_calls(stack, survivor) == 1.0

        await page.click(button("Hang up"))
        await page.wait_for(".bsc-status-detail", has_text="You hung up")
    finally:
        await page.close()
        await browser.close()
