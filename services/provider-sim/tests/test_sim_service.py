"""Service surface: health, metrics, scenario control, configured latencies, startup errors."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import httpx
import numpy as np
from provider_sim.app import create_app
from provider_sim.config import Settings
from provider_sim.logs import redact

KEY = "sim-test-key"
ALL_SERIES = [
    f'provider_sim_requests_total{{endpoint="{endpoint}",outcome="{outcome}"}}'
    for endpoint in ("chat_completions", "models", "listen", "tts_websocket", "tts_bytes")
    for outcome in ("ok", "rejected")
] + [f'provider_sim_audio_seconds_total{{direction="{d}"}}' for d in ("received", "generated")]


def metric(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{series} not exported")


async def test_health_state_and_metrics(scripted_sim) -> None:
    async with httpx.AsyncClient(base_url=scripted_sim.base_url) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        state = (await client.get("/sim/state")).json()
        before = (await client.get("/metrics")).text
        await client.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"})
        await client.get("/v1/models")
        after = (await client.get("/metrics")).text
    assert state["scenario"] == {
        "name": "sim-test-booking",
        "greeting_responses": 1,
        "caller_turns": 2,
        "fallback_reply": "Sorry, I did not catch that.",
    }
    assert state["modes"] == {"stt": "scripted", "tts": "synthetic"}
    assert set(state["latency_seconds"]) == {
        "stt_final_delay",
        "llm_ttft",
        "llm_token_interval",
        "tts_ttfb",
        "tts_realtime_factor",
    }
    for series in [*ALL_SERIES, "provider_sim_fallback_replies_total"]:
        metric(before, series)
    for outcome in ("ok", "rejected"):
        series = f'provider_sim_requests_total{{endpoint="models",outcome="{outcome}"}}'
        assert metric(after, series) == metric(before, series) + 1


async def test_scenario_can_be_replaced_and_reset_at_run_time() -> None:
    app = create_app(Settings(sim_scenario=None))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sim") as client:
        assert (await client.get("/sim/state")).json()["scenario"]["name"] == "none"
        bad = await client.post(
            "/sim/scenario", content=b"name: x\nturns: [{caller: hi, model: [{}]}]"
        )
        assert bad.status_code == 400
        assert "turns.0.model.0" in bad.json()["detail"]
        good = await client.post(
            "/sim/scenario", content=b"name: swapped\nturns: [{caller: hi, model: {say: yo}}]"
        )
        assert good.json() == {"name": "swapped", "greeting_responses": 0, "caller_turns": 1}
        completion = await client.post(
            "/v1/chat/completions",
            headers={"Authorization": "Bearer any"},
            json={"model": "m", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert completion.json()["choices"][0]["message"]["content"] == "yo"
        app.state.runtime.record_problem("something")
        assert (await client.post("/sim/reset")).json() == {"status": "reset"}
        assert (await client.get("/sim/state")).json()["problems"] == []


async def test_configured_latencies_are_honoured(
    services, start_sim, scenario_file, caller_speech
) -> None:
    sim = start_sim(
        services,
        "provider-sim-slow",
        scenario_file,
        SIM_LLM_TTFT_MS="300",
        SIM_LLM_TOKENS_PER_SECOND="50",
        SIM_TTS_TTFB_MS="250",
        SIM_TTS_REALTIME_FACTOR="0.5",
        SIM_STT_FINAL_DELAY_MS="300",
    )
    async with httpx.AsyncClient(base_url=sim.base_url) as client:
        started = time.monotonic()
        async with client.stream(
            "POST",
            "/v1/chat/completions",
            headers={"Authorization": "Bearer k"},
            json={
                "model": "m",
                "stream": True,
                "messages": [{"role": "system", "content": "x"}],
            },
        ) as response:
            arrivals = [
                time.monotonic() - started
                async for line in response.aiter_lines()
                if '"content": "' in line
            ]
    assert arrivals[0] >= 0.3
    assert arrivals[-1] - arrivals[0] >= 0.8 * (len(arrivals) - 2) / 50  # 50 tokens per second

    async with aiohttp.ClientSession() as http:
        url = f"ws://127.0.0.1:{sim.port}/tts/websocket?cartesia_version=2025-04-16"
        async with http.ws_connect(url, headers={"X-API-Key": "k"}) as ws:
            started = time.monotonic()
            await ws.send_str(
                json.dumps(
                    {
                        "model_id": "m",
                        "context_id": "c",
                        "transcript": "Hello there, how are you?",
                        "output_format": {
                            "container": "raw",
                            "encoding": "pcm_s16le",
                            "sample_rate": 16000,
                        },
                    }
                )
            )
            times, audio_seconds = [], 0.0
            while (message := await ws.receive_json(timeout=10))["type"] != "done":
                times.append(time.monotonic() - started)
                audio_seconds += len(message["data"]) * 3 / 4 / 2 / 16000
        assert times[0] >= 0.25
        assert times[-1] - times[0] >= 0.5 * audio_seconds * 0.8  # real-time factor 0.5

        speech = caller_speech("My name is Maria Garcia.", 16000)
        url = f"ws://127.0.0.1:{sim.port}/v1/listen?encoding=linear16&sample_rate=16000"
        async with http.ws_connect(url, headers={"Authorization": "Token k"}) as ws:
            await ws.send_bytes(
                speech[: speech.size - 16000 + 4800].tobytes()
            )  # 0.3 s of trailing silence
            sent = time.monotonic()
            message = await ws.receive_json(timeout=10)
            waited = time.monotonic() - sent
        assert message["is_final"] is True
        assert waited >= 0.2


def test_an_invalid_scenario_file_stops_startup_with_the_reason(tmp_path: Path) -> None:
    scenario = tmp_path / "broken.yaml"
    scenario.write_text("name: broken\nturns: [{caller: hi, model: [{say: ''}]}]\n")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "provider-sim")],
        env={"SIM_SCENARIO": str(scenario), "PORT": "1", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "turns.0.model.0" in result.stderr
    assert "broken.yaml" in result.stderr


def test_keys_in_query_strings_are_redacted_from_logs() -> None:
    line = (
        'WebSocket /tts/websocket?cartesia_version=1&api_key=sk-secret&x=1 "token=abc" [accepted]'
    )
    assert "sk-secret" not in redact(line)
    assert "abc" not in redact(line)
    assert "cartesia_version=1" in redact(line)


async def test_audio_without_speech_produces_no_transcript(scripted_sim) -> None:
    async with aiohttp.ClientSession() as http:
        url = f"ws://127.0.0.1:{scripted_sim.port}/v1/listen?encoding=linear16&sample_rate=16000&vad_events=true"
        async with http.ws_connect(url, headers={"Authorization": f"Token {KEY}"}) as ws:
            noise = (np.random.default_rng(1).normal(0, 30, 32000)).astype(
                np.int16
            )  # about -60 dBFS
            await ws.send_bytes(noise.tobytes())
            await asyncio.sleep(0.2)
            await ws.send_str(json.dumps({"type": "CloseStream"}))
            messages = [json.loads(m.data) async for m in ws if m.type is aiohttp.WSMsgType.TEXT]
    assert [m["type"] for m in messages] == ["Metadata"]
    assert messages[0]["duration"] == 2.0
