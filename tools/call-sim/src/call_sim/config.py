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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CALL_SIM_", case_sensitive=False, extra="ignore")

    # where the stack keeps its logs, Redis data and metric files (default: a new temp dir)
    workdir: Path | None = None
    livekit_server_bin: Path = Field(
        default=DEFAULT_LIVEKIT_BINARY,
        validation_alias=AliasChoices("CALL_SIM_LIVEKIT_SERVER_BIN", "LIVEKIT_SERVER_BIN"),
    )
    web_client_dir: Path = DEFAULT_WEB_CLIENT_DIR
    log_level: str = "WARNING"
    dev_standard_ports: bool = True  # `call-sim dev`: 8000, 8001, 7880... when they are free
    startup_timeout_seconds: float = Field(default=60.0, gt=0)

    # the agent worker under test (anything else it reads can be exported as usual)
    silence_timeout_seconds: float = Field(default=12.0, gt=0)
    # the worker's MAX_CALLS_PER_WORKER, and its warm job processes (default: one per call)
    max_calls_per_worker: int = Field(default=4, ge=1)
    num_idle_processes: int | None = Field(default=None, ge=0)
    # how many agent workers the stack runs (each with its own health and metrics port)
    workers: int = Field(default=1, ge=1, le=8)
    # the worker's JOB_EXECUTOR: one process per call, or calls as threads of one process
    job_executor: Literal["process", "thread"] = "process"
    # The worker's CPU guard (CPU_LOAD_LIMIT) measures the whole machine. Here one machine
    # also runs the callers, the SFU and provider-sim, so it would make the worker refuse
    # calls because of the simulator's own CPU: off by default (above 1).
    cpu_load_limit: float = Field(default=100.0, gt=0)
    # The LiveKit server routes a job only to workers reporting less than its
    # `agents.target_load`; the production default, which the worker's load is scaled to.
    livekit_agent_target_load: float = Field(default=0.7, gt=0)

    # token-service replicas (sharing Redis; one of them leads the dispatch watchdog)
    token_services: int = Field(default=1, ge=1, le=4)
    # the token service's dispatch watchdog (its DISPATCH_* settings)
    dispatch_grace_seconds: float = Field(default=3.0, gt=0)
    dispatch_retry_window_seconds: float = Field(default=45.0, gt=0)
    dispatch_backoff_max_seconds: float = Field(default=4.0, gt=0)

    # provider-sim: modes and the fixed latencies of the simulated providers
    stt_mode: SttMode = SttMode.SCRIPTED
    tts_mode: TtsMode = TtsMode.SYNTHETIC
    stt_endpointing_ms: float = Field(default=200.0, ge=10)
    stt_final_delay_ms: float = Field(default=100.0, ge=0)
    llm_ttft_ms: float = Field(default=300.0, ge=0)
    llm_tokens_per_second: float = Field(default=80.0, gt=0)
    tts_ttfb_ms: float = Field(default=120.0, ge=0)
    tts_ms_per_character: float = Field(default=65.0, gt=0)
    seed: int = 0

    # the simulated caller
    turn_timeout_seconds: float = Field(default=20.0, gt=0)
    pause_seconds: float = Field(default=0.4, ge=0)
    agent_quiet_seconds: float = Field(default=0.7, gt=0)
    speech_threshold_dbfs: float = Field(default=-40.0, le=0)
    budget_ms: float = Field(default=500.0, gt=0)

    # real providers: "auto" uses them when all three keys are set; "simulated" never does
    providers: Literal["auto", "simulated"] = "auto"
    deepgram_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("DEEPGRAM_API_KEY")
    )
    openai_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("OPENAI_API_KEY")
    )
    cartesia_api_key: SecretStr = Field(
        default=SecretStr(""), validation_alias=AliasChoices("CARTESIA_API_KEY")
    )

    @property
    def real_providers(self) -> bool:
        keys = (self.deepgram_api_key, self.openai_api_key, self.cartesia_api_key)
        return self.providers == "auto" and all(key.get_secret_value() for key in keys)
