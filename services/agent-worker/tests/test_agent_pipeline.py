"""Settings reach the framework: turn handling, room input and the VAD."""

from __future__ import annotations

import os
import subprocess
import sys

from livekit.agents import JobExecutorType
from receptionist.config import Settings
from receptionist.pipeline import INPUT_SAMPLE_RATE, load_vad, room_options, turn_handling
from receptionist.worker import build_server


def test_defaults_take_the_vad_off_the_critical_path() -> None:
    settings = Settings()
    assert settings.vad_min_silence_seconds < settings.endpointing_min_delay_seconds
    options = turn_handling(settings)
    assert options["preemptive_generation"] == {"enabled": True, "preemptive_tts": True}
    assert options["endpointing"] == {"min_delay": 0.5, "max_delay": 3.0}


def test_turn_handling_follows_the_settings() -> None:
    settings = Settings(preemptive_generation=False, preemptive_tts=False)
    assert turn_handling(settings)["preemptive_generation"] == {
        "enabled": False,
        "preemptive_tts": False,
    }


def test_room_input_is_16k_without_server_side_gain_control_by_default() -> None:
    audio_input = room_options(Settings()).audio_input
    assert not isinstance(audio_input, bool)
    assert audio_input.sample_rate == INPUT_SAMPLE_RATE == 16_000
    assert audio_input.auto_gain_control is False
    phone_line = room_options(Settings(input_auto_gain_control=True)).audio_input
    assert not isinstance(phone_line, bool)
    assert phone_line.auto_gain_control is True


def test_vad_uses_the_configured_silence_window_at_the_input_rate() -> None:
    vad = load_vad(Settings(vad_min_silence_seconds=0.25))
    assert vad.min_silence_duration == 0.25
    assert vad._opts.sample_rate == INPUT_SAMPLE_RATE


def test_job_executor_setting_reaches_the_server() -> None:
    process = build_server(Settings(job_executor="process"))
    assert process._job_executor_type is JobExecutorType.PROCESS
    thread = build_server(Settings(job_executor="thread"))
    assert thread._job_executor_type is JobExecutorType.THREAD


def test_the_setup_hook_loads_the_llm_clients_lazy_modules_before_the_call() -> None:
    """The OpenAI SDK loads its chat resource on the first request, i.e. on the caller's
    first turn; the job process's setup hook loads it first, in a fresh interpreter."""
    probe = (
        "import sys\n"
        "from receptionist import worker\n"
        "from receptionist.pipeline import LLM_CLIENT_MODULES\n"
        "before = [m for m in LLM_CLIENT_MODULES if m in sys.modules]\n"
        "class Proc:\n"
        "    userdata = {}\n"
        "worker.prepare_process(Proc())\n"
        "after = [m for m in LLM_CLIENT_MODULES if m in sys.modules]\n"
        "print(before, after)\n"
    )
    env = {
        **os.environ,
        "SCHEDULING_API_TOKEN": "t",
        "OPENAI_API_KEY": "k",
        "DEEPGRAM_API_KEY": "k",
        "CARTESIA_API_KEY": "k",
    }
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    before, after = result.stdout.strip().rsplit("] [", 1)
    chat_resource = "openai.resources.chat.completions.completions"
    assert chat_resource not in before  # lazy until someone loads it
    assert chat_resource in after
