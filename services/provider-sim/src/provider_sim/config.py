"""Settings, every one an environment variable (see the README's configuration table)."""

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
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    host: str = "0.0.0.0"
    port: int = Field(default=8090, ge=1, le=65535)
    log_level: str = "INFO"

    sim_scenario: Path | None = None
    sim_api_key: str | None = None
    sim_seed: int = 0
    sim_latency_jitter: float = Field(default=0.0, ge=0.0, le=1.0)

    sim_stt_mode: SttMode = SttMode.SCRIPTED
    sim_stt_final_delay_ms: float = Field(default=100.0, ge=0.0)
    sim_stt_endpointing_ms: float = Field(default=200.0, ge=10.0)
    sim_stt_turn_gap_ms: float = Field(default=1000.0, ge=10.0)
    sim_stt_interim_interval_ms: float = Field(default=300.0, ge=20.0)
    sim_stt_speech_threshold_dbfs: float = Field(default=-40.0, le=0.0)

    sim_llm_ttft_ms: float = Field(default=300.0, ge=0.0)
    sim_llm_tokens_per_second: float = Field(default=80.0, gt=0.0)

    sim_tts_mode: TtsMode = TtsMode.SYNTHETIC
    sim_tts_ttfb_ms: float = Field(default=120.0, ge=0.0)
    sim_tts_realtime_factor: float = Field(default=0.2, ge=0.0)
    sim_tts_ms_per_character: float = Field(default=65.0, gt=0.0)
    sim_tts_chunk_ms: float = Field(default=100.0, ge=10.0)
