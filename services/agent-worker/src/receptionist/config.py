"""Every setting of the agent worker, read from environment variables.

Each is documented in docs/configuration.md; the turn-handling knobs map one-to-one onto
LiveKit's `TurnHandlingOptions` so operators can tune latency without a code change.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr
from pydantic.config import JsonDict
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_CARTESIA_VOICE = "f786b574-daa5-4673-aa0c-cbe3e8534c02"


REQUIRED: JsonDict = {"doc_default": "**required**"}  # a call cannot start without it


class Settings(BaseSettings):
    """Agent worker configuration; each field is the env var of the same name, upper-cased.

    The field docstrings are the settings' documentation: `make docs` renders them into
    docs/configuration.md.
    """

    model_config = SettingsConfigDict(
        extra="ignore", case_sensitive=False, use_attribute_docstrings=True
    )

    # LiveKit connection and dispatch
    livekit_url: str = Field(default="", json_schema_extra=REQUIRED)
    """The LiveKit server the worker registers with."""
    livekit_api_key: SecretStr = Field(default=SecretStr(""), json_schema_extra=REQUIRED)
    """The LiveKit API key."""
    livekit_api_secret: SecretStr = Field(default=SecretStr(""), json_schema_extra=REQUIRED)
    """The LiveKit API secret."""
    agent_name: str = "bright-smile-receptionist"
    """The explicit dispatch name."""
    dispatch_heartbeat_url: str = ""
    """The token service's base URL, for heartbeats to its dispatch watchdog (this worker's
    calls, about once a second): when they stop, the watchdog resumes the calls on another
    worker within `DISPATCH_WORKER_SILENCE_SECONDS` instead of LiveKit's ~20 s. Empty: no
    heartbeat."""
    dispatch_heartbeat_seconds: float = Field(default=1.0, gt=0, le=10)
    """How often the heartbeat is sent; keep it well under the watchdog's silence."""
    default_clinic_id: str = "bright-smile"
    """The clinic used when the dispatch metadata names none."""

    # Scheduling API (the clinic's appointment book)
    scheduling_api_url: str = "http://127.0.0.1:8000"
    """The scheduling API."""
    scheduling_api_token: SecretStr = SecretStr("")
    """The worker's bearer token for the scheduling API."""
    scheduling_api_timeout_seconds: float = Field(default=1.0, gt=0)
    """Per-attempt timeout of a scheduling API call. A tool's whole call, retries included,
    is bounded by `TOOL_DEADLINE_SECONDS`."""
    scheduling_api_max_attempts: int = Field(default=3, ge=1, le=10)
    """Attempts for timeouts and 5xx."""
    scheduling_api_backoff_seconds: float = Field(default=0.2, ge=0)
    """Base backoff between those attempts (doubling)."""
    scheduling_api_refused_max_attempts: int = Field(default=2, ge=1, le=10)
    """A refused connection (nothing listening) will not heal within a backoff. It gets only
    this many attempts, `SCHEDULING_API_REFUSED_RETRY_SECONDS` apart, so the caller hears the
    apology in about 0.1 s instead of 0.6 s."""
    scheduling_api_refused_retry_seconds: float = Field(default=0.05, ge=0)
    """The pause between attempts after a refused connection."""
    profile_cache_ttl_seconds: float = Field(default=60.0, ge=0)
    """How long a clinic profile is cached per process."""
    tool_deadline_seconds: float = Field(default=2.5, gt=0)
    """One deadline per tool call, retries included: past it the caller hears the apology
    and the callback offer."""
    tool_filler_delay_seconds: float = Field(default=1.0, ge=0)
    """A tool still waiting on the scheduling API this long says "One moment while I check."."""

    # Call records
    call_records_enabled: bool = True
    """After each call, store its record (outcome, ids, latency, summary) through the
    scheduling API's `POST /v1/clinics/{clinic_id}/calls`."""
    call_summary_enabled: bool = True
    """Ask the LLM (`OPENAI_BASE_URL`, `OPENAI_MODEL`) for the record's summary and
    structured fields after the call. Off: records are stored without them."""
    call_summary_timeout_seconds: float = Field(default=10.0, gt=0)
    """The summary request's whole budget; past it the record is stored without a summary."""
    call_record_timeout_seconds: float = Field(default=5.0, gt=0)
    """Per-attempt timeout of the record's POST."""
    call_record_max_attempts: int = Field(default=8, ge=1, le=20)
    """Attempts to store a record (timeouts, refused connections, 429 and 5xx are retried;
    the POST is idempotent by call id)."""
    call_record_backoff_seconds: float = Field(default=0.5, ge=0)
    """Base backoff between those attempts (doubling, capped at 8 s)."""

    # Speech and language providers
    deepgram_api_key: SecretStr = Field(default=SecretStr(""), json_schema_extra=REQUIRED)
    """The Deepgram key."""
    deepgram_base_url: str = "https://api.deepgram.com/v1/listen"
    """Deepgram's full listen URL."""
    deepgram_model: str = "nova-3"
    """The STT model."""
    deepgram_language: str = "en-US"
    """The STT language."""
    openai_api_key: SecretStr = Field(default=SecretStr(""), json_schema_extra=REQUIRED)
    """The OpenAI key."""
    openai_base_url: str | None = Field(default=None, json_schema_extra={"doc_default": "OpenAI"})
    """Any OpenAI-compatible server."""
    openai_model: str = "gpt-4o-mini"
    """The LLM."""
    openai_temperature: float = Field(default=0.4, ge=0, le=2)
    """The LLM's temperature."""
    cartesia_api_key: SecretStr = Field(default=SecretStr(""), json_schema_extra=REQUIRED)
    """The Cartesia key."""
    cartesia_base_url: str = "https://api.cartesia.ai"
    """Cartesia's address."""
    cartesia_model: str = "sonic-3"
    """The TTS model."""
    cartesia_voice: str = Field(
        default=DEFAULT_CARTESIA_VOICE,
        json_schema_extra={"doc_default": "Cartesia's default voice id"},
    )
    """The TTS voice."""
    noise_cancellation: bool = False
    """BVC noise cancellation. It needs LiveKit Cloud."""
    input_auto_gain_control: bool = False
    """Server-side gain control on the caller's audio. Browsers already do it
    (`autoGainControl`); turn it on for phone lines. It costs ~8 % of a call's CPU."""

    # Turn handling
    turn_detection: Literal["vad", "stt"] = "vad"
    """`vad` or `stt`."""
    endpointing_min_delay_seconds: float = Field(default=0.5, ge=0)
    """The shortest end-of-turn delay."""
    endpointing_max_delay_seconds: float = Field(default=3.0, gt=0)
    """The longest end-of-turn delay."""
    allow_interruptions: bool = True
    """Barge-in: the caller may interrupt the receptionist."""
    min_interruption_duration_seconds: float = Field(default=0.5, ge=0)
    """Barge-in: how long the caller must speak to interrupt."""
    false_interruption_timeout_seconds: float = Field(default=2.0, gt=0)
    """Barge-in: how long to wait for words before an interruption counts as false."""
    preemptive_generation: bool = True
    """Start the LLM before the end of turn is confirmed."""
    preemptive_tts: bool = True
    """Also synthesise that reply's first audio before the turn is confirmed, so it plays the
    moment the turn is committed. It costs TTS characters when the caller goes on speaking."""
    vad_min_silence_seconds: float = Field(default=0.3, gt=0)
    """Silero's silence window. It stays below `ENDPOINTING_MIN_DELAY_SECONDS` so that
    setting, not the VAD, decides when a turn ends."""
    max_tool_steps: int = Field(default=4, ge=1)
    """Tool calls allowed per turn."""
    silence_timeout_seconds: float = Field(default=12.0, gt=0)
    """Silence before the nudge, and again before the goodbye."""

    # Worker process, health and metrics
    health_port: int = Field(default=8081, ge=0, le=65535)
    """The health server (`/` and `/worker`)."""
    prometheus_port: int = Field(default=9100, ge=0, le=65535)
    """Prometheus metrics (`0` turns them off)."""
    prometheus_multiproc_dir: str = "/tmp/agent-worker-prometheus"  # noqa: S108 - wiped at start
    """Shared metrics directory for the job processes; wiped at start."""
    drain_timeout_seconds: int = Field(default=600, ge=0)
    """How long SIGTERM waits for active calls."""
    max_calls_per_worker: int = Field(default=4, ge=1, le=200)
    """Calls a worker takes at most, active or accepted and starting (see capacity.py)."""
    cpu_load_limit: float = Field(default=0.9, gt=0)
    """The second guard: the worker is also full when its CPU use (a fraction of its cgroup
    limit or of the machine) reaches this. Above 1 turns the CPU guard off."""
    load_threshold: float = Field(default=0.7, gt=0, le=1)
    """The load the worker reports when full. Keep it at or below livekit-server's
    `agents.target_load` (0.7 by default), which routes jobs only to workers below it."""
    num_idle_processes: int | None = Field(
        default=None, ge=0, json_schema_extra={"doc_default": "`MAX_CALLS_PER_WORKER`"}
    )
    """Warm job processes kept ready. With fewer than `MAX_CALLS_PER_WORKER`, an idle worker
    accepts only that many calls of a burst at once."""
    job_executor: Literal["process", "thread"] = "process"
    """`process`: each call in its own OS process (isolation, ~80 MB each). `thread`: calls
    share one process (a few MB each) and one interpreter's CPU; size pods at about 1 core
    (see docs/benchmarks.md)."""
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    """Log level."""

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
