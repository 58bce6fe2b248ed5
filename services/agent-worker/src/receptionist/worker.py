"""The LiveKit agent server: explicit dispatch by name, one call per job process (or per
job thread with `JOB_EXECUTOR=thread`).

Main process: health server (`/`, `/worker`), the Prometheus endpoint (`/metrics`, merging
every process's files), load reporting and the SIGTERM drain — all the framework's.
Job processes (or threads): `prepare_process` runs once (Silero VAD, the HTTP client, the
profile cache, the tool-schema cache), then `entrypoint` runs the call.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from livekit import rtc
from livekit.agents import (
    AgentServer,
    AgentSession,
    JobContext,
    JobExecutorType,
    JobProcess,
    utils,
    vad,
)
from livekit.agents.telemetry import metrics as framework_metrics
from livekit.agents.voice.events import CloseEvent
from livekit.protocol.sip import TransferSIPParticipantRequest

from . import prompts, tool_schemas
from .agent import FallbackReceptionist, Receptionist
from .capacity import CapacityLoad
from .config import Settings, get_settings
from .logs import install_redaction
from .metrics import get_metrics, reap_dead_processes
from .phone_call import (
    Keypad,
    PhoneCaller,
    PhoneLineControl,
    clinic_for_dialled,
    keypad_text,
    phone_caller,
)
from .pipeline import PROVIDERS, build_pipeline, build_session, load_vad, room_options
from .profile_cache import ProfileCache
from .resources import ClinicProfile
from .scheduling_client import SchedulingClient, SchedulingError
from .silence import SilenceWatcher
from .telemetry import CallTelemetry

logger = logging.getLogger(__name__)

CLINIC_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
REAP_INTERVAL_SECONDS = 30.0
_background_tasks: set[asyncio.Task[None]] = set()


def clinic_id_from_metadata(metadata: str, default: str | None) -> str | None:
    """The clinic named in the dispatch metadata (`{"clinic_id": "..."}`), else `default`."""
    try:
        parsed = json.loads(metadata) if metadata.strip() else {}
    except json.JSONDecodeError:
        parsed = {}
    clinic_id = parsed.get("clinic_id") if isinstance(parsed, dict) else None
    if isinstance(clinic_id, str) and CLINIC_ID.match(clinic_id):
        return clinic_id
    if clinic_id is not None:
        logger.warning("ignoring malformed clinic_id in dispatch metadata")
    return default


def resumed_from_metadata(metadata: str) -> bool:
    """True when the dispatch watchdog sent us to a call whose receptionist was lost."""
    try:
        parsed = json.loads(metadata) if metadata.strip() else {}
    except json.JSONDecodeError:
        return False
    return isinstance(parsed, dict) and parsed.get("resumed") is True


@dataclass(frozen=True)
class ProcessResources:
    """What a job process builds once and every call in it shares."""

    vad: vad.VAD
    scheduling: SchedulingClient
    profiles: ProfileCache

    @classmethod
    def of(cls, proc: JobProcess) -> ProcessResources:
        resources = proc.userdata["resources"]
        assert isinstance(resources, ProcessResources)
        return resources


def preinitialise_metrics(settings: Settings) -> None:
    get_metrics().preinitialise(
        tools=Receptionist.tool_names(), providers=PROVIDERS, llm_model=settings.openai_model
    )


def prepare_process(proc: JobProcess) -> None:
    """Setup hook: runs once in each job process before it takes a call."""
    settings = get_settings()
    tool_schemas.install()
    scheduling = SchedulingClient(
        settings.scheduling_api_url,
        settings.scheduling_api_token.get_secret_value(),
        timeout_seconds=settings.scheduling_api_timeout_seconds,
        max_attempts=settings.scheduling_api_max_attempts,
        backoff_seconds=settings.scheduling_api_backoff_seconds,
        refused_max_attempts=settings.scheduling_api_refused_max_attempts,
        refused_retry_seconds=settings.scheduling_api_refused_retry_seconds,
    )
    proc.userdata["resources"] = ProcessResources(
        vad=load_vad(settings),
        scheduling=scheduling,
        profiles=ProfileCache(
            scheduling.get_clinic, ttl_seconds=settings.profile_cache_ttl_seconds
        ),
    )
    preinitialise_metrics(settings)


class _CallOutcome:
    """Counts a call exactly once, whichever way it ends, on its channel (web or phone)."""

    def __init__(self) -> None:
        self._metrics = get_metrics()
        self._ended = False
        self._channel = "web"
        self._metrics.active_sessions.inc()

    def start(self, channel: str) -> None:
        self._channel = channel
        self._metrics.sessions.labels(outcome="started", channel=channel).inc()

    def end(self, outcome: str) -> None:
        if self._ended:
            return
        self._ended = True
        self._metrics.sessions.labels(outcome=outcome, channel=self._channel).inc()
        self._metrics.active_sessions.dec()


async def entrypoint(ctx: JobContext) -> None:
    settings = get_settings()
    resources = ProcessResources.of(ctx.proc)
    named_clinic = clinic_id_from_metadata(ctx.job.metadata, None)
    outcome = _CallOutcome()

    async def on_shutdown(reason: str) -> None:
        outcome.end("completed")

    ctx.add_shutdown_callback(on_shutdown)
    try:
        await ctx.connect()
        caller = phone_caller(await ctx.wait_for_participant())
        outcome.start("phone" if caller else "web")
        clinic_id = named_clinic or (
            await _clinic_for_dialled(resources, caller) if caller else None
        )
        clinic_id = clinic_id or settings.default_clinic_id
        profile: ClinicProfile | None
        try:
            profile = await resources.profiles.get(clinic_id)
        except SchedulingError as exc:
            logger.error(
                "clinic profile unavailable, answering in fallback mode",
                extra={"clinic_id": clinic_id, "error": type(exc).__name__},
            )
            profile = None
        resumed = resumed_from_metadata(ctx.job.metadata)
        line = PhoneLineControl(caller, _cold_transfer(ctx, caller)) if caller else None
        agent: Receptionist | FallbackReceptionist = (
            Receptionist(
                profile=profile,
                scheduling=resources.scheduling,
                resumed=resumed,
                tool_deadline_seconds=settings.tool_deadline_seconds,
                filler_delay_seconds=settings.tool_filler_delay_seconds,
                phone=line,
            )
            if profile is not None
            else FallbackReceptionist(
                clinic_id=clinic_id,
                scheduling=resources.scheduling,
                tool_deadline_seconds=settings.tool_deadline_seconds,
                filler_delay_seconds=settings.tool_filler_delay_seconds,
            )
        )
        on_phone = caller is not None
        session = build_session(
            settings, build_pipeline(settings, voice_activity=resources.vad, phone=on_phone)
        )
        CallTelemetry(get_metrics(), providers=PROVIDERS, clinic_id=clinic_id).attach(session)
        SilenceWatcher(
            session,
            timeout_seconds=settings.silence_timeout_seconds,
            nudge=prompts.silence_nudge(),
            goodbye=prompts.silence_goodbye(profile),
        ).attach()

        def on_close(event: CloseEvent) -> None:
            outcome.end("failed" if event.error is not None else "completed")
            ctx.shutdown(reason=event.reason.value)

        session.on("close", on_close)
        await session.start(
            agent=agent, room=ctx.room, room_options=room_options(settings, phone=on_phone)
        )
        if caller is not None:
            _listen_to_keypad(ctx.room, session, caller)
        logger.info(
            "call started",
            extra={
                "clinic_id": clinic_id,
                "fallback": profile is None,
                "resumed": resumed,
                "channel": "phone" if caller else "web",
            },
        )
    except Exception:
        outcome.end("failed")
        raise


async def _clinic_for_dialled(resources: ProcessResources, caller: PhoneCaller) -> str | None:
    """A dispatch without a clinic: the clinic whose phone line received the call."""
    try:
        clinic_ids = await resources.scheduling.list_clinic_ids()
        profiles = [await resources.profiles.get(clinic_id) for clinic_id in clinic_ids]
    except SchedulingError as exc:
        logger.warning("could not map the dialled number", extra={"error": type(exc).__name__})
        return None
    return clinic_for_dialled(caller.dialled, profiles)


def _cold_transfer(ctx: JobContext, caller: PhoneCaller) -> Callable[[str], Awaitable[None]]:
    async def transfer(number: str) -> None:
        await ctx.api.sip.transfer_sip_participant(
            TransferSIPParticipantRequest(
                room_name=ctx.room.name,
                participant_identity=caller.identity,
                transfer_to=f"tel:{number}",
            )
        )

    return transfer


def _listen_to_keypad(room: rtc.Room, session: AgentSession[None], caller: PhoneCaller) -> None:
    """Key presses (DTMF) reach the model as the caller's words; 0 asks for the front desk."""

    def on_entry(entry: str) -> None:
        session.interrupt()
        session.generate_reply(user_input=keypad_text(entry))

    keypad = Keypad(on_entry)

    def on_dtmf(event: rtc.SipDTMF) -> None:
        if event.participant is None or event.participant.identity == caller.identity:
            keypad.press(event.digit)

    room.on("sip_dtmf_received", on_dtmf)


async def _reap_forever(directory: str) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL_SECONDS)
        reaped = await asyncio.to_thread(reap_dead_processes, directory)
        if reaped:
            logger.info("dropped live gauges of exited job processes", extra={"pids": reaped})


def _on_worker_started(settings: Settings) -> None:
    """Main process, right after the framework wiped the metrics directory."""
    install_redaction()
    preinitialise_metrics(settings)
    # the framework only creates its active-job series when the first job starts
    framework_metrics.RUNNING_JOB_GAUGE.labels(nodename=utils.nodename())
    task = asyncio.get_running_loop().create_task(_reap_forever(settings.prometheus_multiproc_dir))
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)


def build_server(settings: Settings) -> AgentServer:
    server = AgentServer(
        setup_fnc=prepare_process,
        job_executor_type=JobExecutorType(settings.job_executor),
        load_fnc=CapacityLoad(
            max_calls=settings.max_calls_per_worker,
            cpu_limit=settings.cpu_load_limit,
            load_threshold=settings.load_threshold,
        ),
        load_threshold=settings.load_threshold,
        num_idle_processes=settings.idle_processes,
        drain_timeout=settings.drain_timeout_seconds,
        port=settings.health_port,
        prometheus_port=settings.prometheus_port or None,
        prometheus_multiproc_dir=settings.prometheus_multiproc_dir,
        ws_url=settings.livekit_url or None,
        api_key=settings.livekit_api_key.get_secret_value() or None,
        api_secret=settings.livekit_api_secret.get_secret_value() or None,
        log_level=settings.log_level,
    )
    server.rtc_session(entrypoint, agent_name=settings.agent_name)
    server.on("worker_started", lambda: _on_worker_started(settings))
    return server
