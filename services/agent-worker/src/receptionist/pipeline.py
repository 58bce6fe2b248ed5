"""Builds the voice pipeline (STT → LLM → TTS, VAD) and the session from settings.

Each provider's base URL is a setting, so the demo and tests point the production plugins
at local stand-ins instead of swapping the plugins out.
"""

from __future__ import annotations

import importlib
import logging
from dataclasses import dataclass
from typing import Any, Final

from livekit.agents import AgentSession, llm, stt, tts, vad
from livekit.agents.types import NOT_GIVEN
from livekit.agents.voice.room_io import AudioInputOptions, RoomOptions
from livekit.agents.voice.turn import TurnHandlingOptions
from livekit.plugins import cartesia, deepgram, openai, silero

from .clauses import FirstClauseTokenizer
from .config import Settings
from .metrics import ProviderLabels

logger = logging.getLogger(__name__)

PROVIDERS = ProviderLabels(stt="deepgram", llm="openai", tts="cartesia")


@dataclass(frozen=True)
class Pipeline:
    llm: llm.LLM[Any]
    stt: stt.STT[Any] | None = None
    tts: tts.TTS[Any] | None = None
    vad: vad.VAD | None = None


# The rate Silero and Deepgram both consume: the room resamples once, in native code, and
# neither the VAD nor the STT stream resamples again in Python.
INPUT_SAMPLE_RATE: Final = 16_000


def load_vad(settings: Settings) -> vad.VAD:
    """Silero VAD; slow (model load), so it runs once per process in the setup hook."""
    return silero.VAD.load(
        min_silence_duration=settings.vad_min_silence_seconds, sample_rate=INPUT_SAMPLE_RATE
    )


# Loaded lazily by the OpenAI SDK on its first chat request, with the pydantic stream
# types it builds: 250-450 ms on the first LLM round of every call on a loaded 2-core
# machine (measured: first request 347 ms, 65 ms with these loaded; later ones 20-50 ms).
LLM_CLIENT_MODULES: Final = (
    "openai.resources.chat.chat",
    "openai.resources.chat.completions.completions",
    "openai.resources.chat.completions.messages",
    "openai.types.chat.completions",
    "openai.lib.streaming.chat",
    "openai.pagination",
    "anyio._backends._asyncio",
    "jiter",
)


def warm_llm_client() -> None:
    """Load what the OpenAI SDK would load on the call's first LLM request, so it happens in
    the setup hook (before the call) instead of on the caller's first turn."""
    for module in LLM_CLIENT_MODULES:
        importlib.import_module(module)


def build_pipeline(settings: Settings, *, voice_activity: vad.VAD, phone: bool = False) -> Pipeline:
    """`phone`: the caller is on a phone line, so the STT gets the narrowband model."""
    return Pipeline(
        stt=deepgram.STT(
            model=settings.deepgram_phone_model if phone else settings.deepgram_model,
            language=settings.deepgram_language,
            api_key=settings.deepgram_api_key.get_secret_value(),
            base_url=settings.deepgram_base_url,
            sample_rate=INPUT_SAMPLE_RATE,
        ),
        llm=openai.LLM(
            model=settings.openai_model,
            api_key=settings.openai_api_key.get_secret_value(),
            base_url=settings.openai_base_url or NOT_GIVEN,
            temperature=settings.openai_temperature,
        ),
        tts=cartesia.TTS(
            model=settings.cartesia_model,
            voice=settings.cartesia_voice,
            api_key=settings.cartesia_api_key.get_secret_value(),
            base_url=settings.cartesia_base_url,
            tokenizer=FirstClauseTokenizer() if settings.tts_chunking == "clause" else NOT_GIVEN,
        ),
        vad=voice_activity,
    )


def turn_handling(settings: Settings) -> TurnHandlingOptions:
    return {
        "turn_detection": settings.turn_detection,
        "endpointing": {
            "min_delay": settings.endpointing_min_delay_seconds,
            "max_delay": settings.endpointing_max_delay_seconds,
        },
        "interruption": {
            "enabled": settings.allow_interruptions,
            # adaptive interruption needs LiveKit Cloud inference; VAD works anywhere
            "mode": "vad",
            "min_duration": settings.min_interruption_duration_seconds,
            "false_interruption_timeout": settings.false_interruption_timeout_seconds,
        },
        "preemptive_generation": {
            "enabled": settings.preemptive_generation,
            "preemptive_tts": settings.preemptive_tts,
        },
    }


def build_session(settings: Settings, pipeline: Pipeline) -> AgentSession[None]:
    return AgentSession(
        stt=pipeline.stt if pipeline.stt is not None else NOT_GIVEN,
        llm=pipeline.llm,
        tts=pipeline.tts if pipeline.tts is not None else NOT_GIVEN,
        vad=pipeline.vad,
        turn_handling=turn_handling(settings),
        max_tool_steps=settings.max_tool_steps,
        user_away_timeout=settings.silence_timeout_seconds,
    )


def room_options(settings: Settings, *, phone: bool = False) -> RoomOptions:
    """Room I/O: 16 kHz input, optional noise cancellation, gain control (always on for a
    phone line: carriers deliver quiet, uneven levels), and the room is deleted when the
    call ends, which also hangs up a phone caller's SIP leg."""
    noise_cancellation = None
    if settings.noise_cancellation:
        try:
            plugin = importlib.import_module("livekit.plugins.noise_cancellation")
            noise_cancellation = plugin.BVC()
        except ImportError:
            logger.warning(
                "NOISE_CANCELLATION is on but livekit-plugins-noise-cancellation is not "
                "installed; continuing without it"
            )
    return RoomOptions(
        audio_input=AudioInputOptions(
            sample_rate=INPUT_SAMPLE_RATE,
            noise_cancellation=noise_cancellation,
            auto_gain_control=settings.input_auto_gain_control or phone,
        ),
        delete_room_on_close=True,
    )
