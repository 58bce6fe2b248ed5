"""Every setting of the agent worker, read from environment variables.

Names follow `briefs/METRICS_AND_PORTS.md`; the turn-handling knobs map one-to-one onto
LiveKit's `TurnHandlingOptions` so operators can tune latency without a code change.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CARTESIA_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"


class Settings(BaseSettings):
    """Agent worker configuration; each field is the env var of the same name, upper-cased."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=False)

    # LiveKit connection and dispatch
    livekit_url: str = ""
    livekit_api_key: SecretStr = SecretStr("")
    livekit_api_secret: SecretStr = SecretStr("")
    agent_name: str = "bright-smile-receptionist"
    default_clinic_id: str = "bright-smile"

    # Scheduling API (the clinic's appointment book)
    scheduling_api_url: str = "http://127.0.0.1:8000"
    scheduling_api_token: SecretStr = SecretStr("")
    scheduling_api_timeout_seconds: float = Field(default=2.0, gt=0)
    scheduling_api_max_attempts: int = Field(default=3, ge=1, le=10)
    scheduling_api_backoff_seconds: float = Field(default=0.2, ge=0)
    # a refused connection (nothing listening) will not heal within the backoff: fail fast
    scheduling_api_refused_max_attempts: int = Field(default=2, ge=1, le=10)
    scheduling_api_refused_retry_seconds: float = Field(default=0.05, ge=0)
    profile_cache_ttl_seconds: float = Field(default=60.0, ge=0)

    # Speech and language providers
    deepgram_api_key: SecretStr = SecretStr("")
    deepgram_base_url: str = "https://api.deepgram.com/v1/listen"
    deepgram_model: str = "nova-3"
    deepgram_language: str = "en-US"
    openai_api_key: SecretStr = SecretStr("")
    openai_base_url: str | None = None
    openai_model: str = "gpt-4o-mini"
    openai_temperature: float = Field(default=0.4, ge=0, le=2)
    cartesia_api_key: SecretStr = SecretStr("")
    cartesia_base_url: str = "https://api.cartesia.ai"
    cartesia_model: str = "sonic-3"
    cartesia_voice: str = DEFAULT_CARTESIA_VOICE
    noise_cancellation: bool = False
    # browsers already apply AGC to the microphone (getUserMedia's autoGainControl); doing it
    # again on the server costs ~8 % of a call's CPU for nothing. Turn on for phone lines.
    input_auto_gain_control: bool = False

    # Turn handling
    turn_detection: Literal["vad", "stt"] = "vad"
    endpointing_min_delay_seconds: float = Field(default=0.5, ge=0)
    endpointing_max_delay_seconds: float = Field(default=3.0, gt=0)
    allow_interruptions: bool = True
    min_interruption_duration_seconds: float = Field(default=0.5, ge=0)
    false_interruption_timeout_seconds: float = Field(default=2.0, gt=0)
    preemptive_generation: bool = True
    # also synthesise the preemptive reply, so its first audio is ready the moment the turn
    # is committed; costs TTS characters when the caller goes on speaking
    preemptive_tts: bool = True
    # Silero's silence window before it reports the end of speech. Kept well below
    # ENDPOINTING_MIN_DELAY_SECONDS so that setting, not the VAD, decides the turn's end.
    vad_min_silence_seconds: float = Field(default=0.3, gt=0)
    max_tool_steps: int = Field(default=4, ge=1)
    silence_timeout_seconds: float = Field(default=12.0, gt=0)

    # Worker process, health and metrics
    health_port: int = Field(default=8081, ge=0, le=65535)
    prometheus_port: int = Field(default=9100, ge=0, le=65535)
    prometheus_multiproc_dir: str = "/tmp/agent-worker-prometheus"  # noqa: S108 - wiped at start
    drain_timeout_seconds: int = Field(default=600, ge=0)
    # Capacity (see capacity.py): a worker is full at MAX_CALLS_PER_WORKER calls (active or
    # accepted and starting), or when its CPU use (a fraction of its cgroup limit or of the
    # machine) reaches CPU_LOAD_LIMIT; above 1 turns the CPU guard off.
    max_calls_per_worker: int = Field(default=4, ge=1, le=200)
    cpu_load_limit: float = Field(default=0.9, gt=0)
    # the load the worker reports when full; keep it at or below livekit-server's
    # agents.target_load (0.7 by default), which routes jobs only to workers below it
    load_threshold: float = Field(default=0.7, gt=0, le=1)
    # warm job processes; default MAX_CALLS_PER_WORKER, so a burst at an idle worker is
    # accepted whole (fewer: the framework accepts only that many at once when idle)
    num_idle_processes: int | None = Field(default=None, ge=0)
    # process: one OS process per call (isolation; ~80 MB each). thread: calls share one
    # process (a few MB each), bounded by one interpreter's CPU — size pods at ~1 core.
    job_executor: Literal["process", "thread"] = "process"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    def missing_provider_keys(self) -> list[str]:
        """Provider API keys that are empty (a call cannot start without them)."""
        keys = {
            "DEEPGRAM_API_KEY": self.deepgram_api_key,
            "OPENAI_API_KEY": self.openai_api_key,
            "CARTESIA_API_KEY": self.cartesia_api_key,
        }
        return [name for name, value in keys.items() if not value.get_secret_value()]

    @property
    def idle_processes(self) -> int:
        """Warm job processes: NUM_IDLE_PROCESSES, else one per call slot."""
        if self.num_idle_processes is not None:
            return self.num_idle_processes
        return self.max_calls_per_worker


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (job processes inherit the worker's environment)."""
    return Settings()
