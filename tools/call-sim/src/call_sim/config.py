"""Settings of the call simulator; every one is an environment variable.

`CALL_SIM_*` variables shape the local stack and the simulated caller. The provider keys
(`DEEPGRAM_API_KEY`, `OPENAI_API_KEY`, `CARTESIA_API_KEY`) keep their usual names: when all
three are set the stack uses the real providers instead of provider-sim.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[4]
DEFAULT_LIVEKIT_BINARY = REPO_ROOT / ".tools" / "bin" / "livekit-server"
DEFAULT_WEB_CLIENT_DIR = REPO_ROOT / "web" / "dist"


class SttMode(StrEnum):
    SCRIPTED = "scripted"  # provider-sim emits the scenario's caller line when speech ends
    POCKETSPHINX = "pocketsphinx"  # provider-sim recognises the caller's audio offline


class TtsMode(StrEnum):
    SYNTHETIC = "synthetic"  # a speech-shaped hum of realistic length (nearly free)
    PIPER = "piper"  # real offline speech


class ProviderProfile(StrEnum):
    """provider-sim's latency profile (its `SIM_PROVIDER_PROFILE` holds the figures)."""

    TYPICAL = "typical"
    FAST = "fast"


class Settings(BaseSettings):
    """The field docstrings are the settings' documentation: `make docs` renders them into
    docs/configuration.md."""

    model_config = SettingsConfigDict(
        env_prefix="CALL_SIM_", case_sensitive=False, extra="ignore", use_attribute_docstrings=True
    )

    workdir: Path | None = Field(default=None, json_schema_extra={"doc_default": "a new temp dir"})
    """Where the stack keeps its logs, Redis data and metric files."""
    livekit_server_bin: Path = Field(
        default=DEFAULT_LIVEKIT_BINARY,
        validation_alias=AliasChoices("CALL_SIM_LIVEKIT_SERVER_BIN", "LIVEKIT_SERVER_BIN"),
    )
    """The LiveKit server binary."""
    web_client_dir: Path = DEFAULT_WEB_CLIENT_DIR
    """The web client the token service serves."""
    log_level: str = "WARNING"
    """call-sim's own JSON logs."""
    dev_standard_ports: bool = True
    """`call-sim dev` uses 8000, 8001, 7880, … when they are free."""
    startup_timeout_seconds: float = Field(default=60.0, gt=0)
    """Health-check timeout for each component."""

    # the agent worker under test (anything else it reads can be exported as usual)
    silence_timeout_seconds: float = Field(default=12.0, gt=0)
    """The worker's `SILENCE_TIMEOUT_SECONDS`."""
    max_calls_per_worker: int = Field(default=4, ge=1)
    """The worker's `MAX_CALLS_PER_WORKER`."""
    num_idle_processes: int | None = Field(
        default=None, ge=0, json_schema_extra={"doc_default": "one per call"}
    )
    """The worker's `NUM_IDLE_PROCESSES`."""
    workers: int = Field(default=1, ge=1, le=8)
    """How many agent workers the stack runs (each with its own health and metrics port)."""
    job_executor: Literal["process", "thread"] = "process"
    """The worker's `JOB_EXECUTOR`: one process per call, or calls as threads of one
    process."""
    cpu_load_limit: float = Field(default=100.0, gt=0)
    """The worker's `CPU_LOAD_LIMIT`. It measures the whole machine, and here one machine
    also runs the callers, the SFU and provider-sim, so it would make the worker refuse
    calls because of the simulator's own CPU: off by default (above 1)."""
    livekit_agent_target_load: float = Field(default=0.7, gt=0)
    """The LiveKit server's `agents.target_load`: it routes a job only to workers reporting
    less. The production default, which the worker's load is scaled to."""
    token_services: int = Field(default=1, ge=1, le=4)
    """Token-service replicas (sharing Redis; one of them leads the dispatch watchdog)."""
    dispatch_grace_seconds: float = Field(default=3.0, gt=0)
    """The token service's `DISPATCH_GRACE_SECONDS`."""
    dispatch_retry_window_seconds: float = Field(default=45.0, gt=0)
    """The token service's `DISPATCH_RETRY_WINDOW_SECONDS`."""
    dispatch_backoff_max_seconds: float = Field(default=4.0, gt=0)
    """The token service's `DISPATCH_BACKOFF_MAX_SECONDS`."""

    # provider-sim: modes and the fixed latencies of the simulated providers
    stt_mode: SttMode = Field(
        default=SttMode.SCRIPTED,
        json_schema_extra={"doc_default": "`scripted` (dev: `pocketsphinx`)"},
    )
    """How provider-sim hears the caller."""
    tts_mode: TtsMode = Field(
        default=TtsMode.SYNTHETIC, json_schema_extra={"doc_default": "`synthetic` (dev: `piper`)"}
    )
    """How provider-sim speaks."""
    provider_profile: ProviderProfile = ProviderProfile.TYPICAL
    """provider-sim's `SIM_PROVIDER_PROFILE`: `typical` (today's providers) or `fast` (what a
    deployment can buy; docs/latency.md). The `--providers` option of `run`, `demo`, `dev` and
    `bench` sets it too. The latency settings below override single figures of it."""
    stt_endpointing_ms: float | None = Field(default=None, ge=10)
    """Simulated STT endpointing (unset: the profile's)."""
    stt_final_delay_ms: float | None = Field(default=None, ge=0)
    """Simulated STT final-transcript delay (unset: the profile's)."""
    llm_ttft_ms: float | None = Field(default=None, ge=0)
    """Simulated LLM time to first token (unset: the profile's)."""
    llm_tokens_per_second: float | None = Field(default=None, gt=0)
    """Simulated LLM streaming pace (unset: the profile's)."""
    tts_ttfb_ms: float | None = Field(default=None, ge=0)
    """Simulated TTS time to first byte (unset: the profile's)."""
    tts_ms_per_character: float = Field(default=65.0, gt=0)
    """Simulated TTS audio length per character."""
    seed: int = 0
    """provider-sim's seed."""

    # the simulated caller
    turn_timeout_seconds: float = Field(default=20.0, gt=0)
    """How long the caller waits for a reply."""
    pause_seconds: float = Field(default=0.4, ge=0)
    """The caller's think time."""
    agent_quiet_seconds: float = Field(default=0.7, gt=0)
    """How long the agent must be quiet to count as finished."""
    speech_threshold_dbfs: float = Field(default=-40.0, le=0)
    """The speech/silence level (also passed to provider-sim)."""
    budget_ms: float = Field(default=500.0, gt=0)
    """The end-to-end budget shown in the latency table."""

    providers: Literal["auto", "simulated"] = "auto"
    """`auto` uses the real providers when all three provider keys are set; `simulated` never
    does."""
    deepgram_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("DEEPGRAM_API_KEY")
    )
    """A real Deepgram key (see `CALL_SIM_PROVIDERS`)."""
    openai_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("OPENAI_API_KEY")
    )
    """A real OpenAI key (see `CALL_SIM_PROVIDERS`)."""
    cartesia_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("CARTESIA_API_KEY")
    )
    """A real Cartesia key (see `CALL_SIM_PROVIDERS`)."""

    @property
    def real_providers(self) -> bool:
        keys = (self.deepgram_api_key, self.openai_api_key, self.cartesia_api_key)
        return self.providers == "auto" and all(key.get_secret_value() for key in keys)
