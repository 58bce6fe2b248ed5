"""Settings, every one an environment variable (documented in docs/configuration.md)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SttMode(StrEnum):
    """How the Deepgram stand-in turns caller audio into text."""

    SCRIPTED = "scripted"  # the scenario's next caller line, when the utterance ends
    POCKETSPHINX = "pocketsphinx"  # real offline recognition


class TtsMode(StrEnum):
    """How the Cartesia stand-in turns text into audio."""

    SYNTHETIC = "synthetic"  # a soft, word-shaped tone of realistic length; nearly free
    PIPER = "piper"  # real offline speech


class ProviderProfile(StrEnum):
    """Which providers the stand-ins imitate: their latencies (docs/latency.md cites them)."""

    TYPICAL = "typical"  # Deepgram Nova-3, OpenAI gpt-4o-mini, Cartesia Sonic as commonly seen
    FAST = "fast"  # what a deployment can buy: a fast-inference LLM endpoint, low-TTFB TTS


# The latency settings each profile gives, unless the setting itself is set.
PROFILE_LATENCIES: dict[ProviderProfile, dict[str, float]] = {
    ProviderProfile.TYPICAL: {
        "sim_stt_endpointing_ms": 200.0,
        "sim_stt_final_delay_ms": 100.0,
        "sim_llm_ttft_ms": 300.0,
        "sim_llm_tokens_per_second": 80.0,
        "sim_tts_ttfb_ms": 120.0,
    },
    ProviderProfile.FAST: {
        "sim_stt_endpointing_ms": 100.0,
        "sim_stt_final_delay_ms": 50.0,
        "sim_llm_ttft_ms": 150.0,
        "sim_llm_tokens_per_second": 200.0,
        "sim_tts_ttfb_ms": 60.0,
    },
}


def _profiled(
    name: str, default: float, *, ge: float | None = None, gt: float | None = None
) -> Any:
    """A latency setting whose documented default is its provider profile's figure."""
    typical = PROFILE_LATENCIES[ProviderProfile.TYPICAL][name]
    fast = PROFILE_LATENCIES[ProviderProfile.FAST][name]
    doc_default = f"from `SIM_PROVIDER_PROFILE`: `{typical:g}` (`fast`: `{fast:g}`)"
    return Field(default=default, ge=ge, gt=gt, json_schema_extra={"doc_default": doc_default})


class Settings(BaseSettings):
    """Each field is the environment variable of the same name, upper-cased.

    The docstrings are the settings' documentation: `make docs` renders them into
    docs/configuration.md.
    """

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    host: str = "0.0.0.0"
    """The address it binds."""
    port: int = Field(default=8090, ge=1, le=65535)
    """The port it listens on."""
    log_level: str = "INFO"
    """Log level."""

    sim_scenario: Path | None = None
    """Scenario YAML (it can also be loaded at run time through `POST /sim/scenario`)."""
    sim_api_key: str | None = None
    """When set, every request must carry it. Otherwise any non-empty key is accepted."""
    sim_seed: int = 0
    """Seed of the latency jitter, so a run can be repeated."""
    sim_latency_jitter: float = Field(default=0.0, ge=0.0, le=1.0)
    """Jitter on every delay, as a ± fraction of it."""

    sim_provider_profile: ProviderProfile = ProviderProfile.TYPICAL
    """`typical` (today's providers) or `fast` (what a deployment can buy): the default of the
    STT endpointing and final delay, the LLM time to first token and pace, and the TTS time to
    first byte. Each of those settings, when set, overrides its profile figure."""

    sim_stt_mode: SttMode = SttMode.SCRIPTED
    """`scripted` (the scenario's caller lines) or `pocketsphinx` (real offline recognition)."""
    sim_stt_final_delay_ms: float = _profiled("sim_stt_final_delay_ms", 100.0, ge=0.0)
    """STT: from the end of the utterance to the final transcript."""
    sim_stt_endpointing_ms: float = _profiled("sim_stt_endpointing_ms", 200.0, ge=10.0)
    """STT: the silence that ends an utterance."""
    sim_stt_turn_gap_ms: float = Field(default=1000.0, ge=10.0)
    """STT (`scripted`): a pause shorter than this stays within the same caller line."""
    sim_stt_interim_interval_ms: float = Field(default=300.0, ge=20.0)
    """STT: how often interim transcripts are sent while the caller speaks."""
    sim_stt_speech_threshold_dbfs: float = Field(default=-40.0, le=0.0)
    """STT: the level above which audio counts as speech."""

    sim_llm_ttft_ms: float = _profiled("sim_llm_ttft_ms", 300.0, ge=0.0)
    """LLM time to first token."""
    sim_llm_tokens_per_second: float = _profiled("sim_llm_tokens_per_second", 80.0, gt=0.0)
    """LLM streaming pace."""

    sim_tts_mode: TtsMode = TtsMode.SYNTHETIC
    """`synthetic` (speech-shaped audio of realistic length) or `piper` (real offline
    speech)."""
    sim_tts_ttfb_ms: float = _profiled("sim_tts_ttfb_ms", 120.0, ge=0.0)
    """TTS time to first byte."""
    sim_tts_realtime_factor: float = Field(default=0.2, ge=0.0)
    """TTS: synthesis time as a fraction of the audio's length, after the first byte."""
    sim_tts_ms_per_character: float = Field(default=65.0, gt=0.0)
    """TTS (`synthetic`): the length of the audio per character of text."""
    sim_tts_chunk_ms: float = Field(default=100.0, ge=10.0)
    """TTS: the length of each audio chunk sent."""

    @model_validator(mode="after")
    def _apply_provider_profile(self) -> Self:
        """Latencies not set one by one come from the provider profile."""
        for name, value in PROFILE_LATENCIES[self.sim_provider_profile].items():
            if name not in self.model_fields_set:
                setattr(self, name, value)
        return self
