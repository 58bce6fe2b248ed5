"""Settings, every one an environment variable (documented in docs/configuration.md)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SttMode(StrEnum):
    """How the Deepgram stand-in turns caller audio into text."""

    SCRIPTED = "scripted"  # the scenario's next caller line, when the utterance ends
    POCKETSPHINX = "pocketsphinx"  # real offline recognition


class TtsMode(StrEnum):
    """How the Cartesia stand-in turns text into audio."""

    SYNTHETIC = "synthetic"  # a soft, word-shaped tone of realistic length; nearly free
    PIPER = "piper"  # real offline speech


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

    sim_stt_mode: SttMode = SttMode.SCRIPTED
    """`scripted` (the scenario's caller lines) or `pocketsphinx` (real offline recognition)."""
    sim_stt_final_delay_ms: float = Field(default=100.0, ge=0.0)
    """STT: from the end of the utterance to the final transcript."""
    sim_stt_endpointing_ms: float = Field(default=200.0, ge=10.0)
    """STT: the silence that ends an utterance."""
    sim_stt_turn_gap_ms: float = Field(default=1000.0, ge=10.0)
    """STT (`scripted`): a pause shorter than this stays within the same caller line."""
    sim_stt_interim_interval_ms: float = Field(default=300.0, ge=20.0)
    """STT: how often interim transcripts are sent while the caller speaks."""
    sim_stt_speech_threshold_dbfs: float = Field(default=-40.0, le=0.0)
    """STT: the level above which audio counts as speech."""

    sim_llm_ttft_ms: float = Field(default=300.0, ge=0.0)
    """LLM time to first token."""
    sim_llm_tokens_per_second: float = Field(default=80.0, gt=0.0)
    """LLM streaming pace."""

    sim_tts_mode: TtsMode = TtsMode.SYNTHETIC
    """`synthetic` (speech-shaped audio of realistic length) or `piper` (real offline
    speech)."""
    sim_tts_ttfb_ms: float = Field(default=120.0, ge=0.0)
    """TTS time to first byte."""
    sim_tts_realtime_factor: float = Field(default=0.2, ge=0.0)
    """TTS: synthesis time as a fraction of the audio's length, after the first byte."""
    sim_tts_ms_per_character: float = Field(default=65.0, gt=0.0)
    """TTS (`synthetic`): the length of the audio per character of text."""
    sim_tts_chunk_ms: float = Field(default=100.0, ge=10.0)
    """TTS: the length of each audio chunk sent."""
