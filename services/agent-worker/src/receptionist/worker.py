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
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import (
    AgentServer,
    JobContext,
    JobExecutorType,
    JobProcess,
    utils,
    vad,
)
from livekit.agents.telemetry import metrics as framework_metrics
from livekit.agents.voice.events import CloseEvent

from . import prompts, tool_schemas
from .agent import FallbackReceptionist, Receptionist
from .call_recorder import CallRecorder, CallScheduling
from .call_records import file_call_record
from .call_report import CallLedger
from .capacity import CapacityLoad
from .config import Settings, get_settings
from .front_desk import utc_now
from .heartbeat import HeartbeatSender, calls_of, new_worker_id
from .logs import install_redaction
from .metrics import get_metrics, reap_dead_processes
from .phone import normalize_phone
from .phone_call import (
    PhoneLineControl,
    clinic_for_dialled_number,
    cold_transfer,
    listen_to_keypad,
    phone_caller,
)
from .pipeline import (
    PROVIDERS,
    build_pipeline,
    build_session,
    load_vad,
    room_options,
    warm_llm_client,
)
from .profile_cache import ProfileCache
from .resources import ClinicProfile
from .scheduling_client import SchedulingClient, SchedulingError
from .silence import SilenceWatcher
from .telemetry import CallTelemetry

logger = logging.getLogger(__name__)

CLINIC_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
REAP_INTERVAL_SECONDS = 30.0
CALLER_KINDS = (
    rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
    rtc.ParticipantKind.PARTICIPANT_KIND_SIP,
)
CALLER_WAIT_SECONDS = 5.0
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


def _joined(participant: rtc.Participant) -> tuple[float, str]:
    joined = participant.joined_at
    return (joined.timestamp() if joined else float("inf"), participant.identity)


def another_receptionist_came_first(room: rtc.Room) -> bool:
    """Whether a receptionist joined this room before ours: the watchdog dispatched again
    because the first job was slow to start (a loaded machine), and both arrived. The
    earliest stays (identity breaks a tie); the caller must hear only one."""
    mine = _joined(room.local_participant)
    return any(
        _joined(other) < mine
        for other in room.remote_participants.values()
        if other.kind == rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
    )


async def _arriving_caller(ctx: JobContext) -> rtc.RemoteParticipant | None:
    """The caller, in the room already (they always join first) or joining very soon."""
    try:
        return await asyncio.wait_for(
            ctx.wait_for_participant(kind=list(CALLER_KINDS)), CALLER_WAIT_SECONDS
        )
    except TimeoutError:
        return None


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
    warm_llm_client()
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
    resumed = resumed_from_metadata(ctx.job.metadata)
    call_outcome = _CallOutcome()
    ledger = CallLedger(started_at=utc_now())
    scheduling = CallScheduling(resources.scheduling, ledger)
    telemetry: CallTelemetry | None = None
    clinic_id = named_clinic or settings.default_clinic_id
    # set when this job stands down (another receptionist has the call, or no caller came):
    # the call's record is the other job's to file, or there was no call
    stood_down = False

    async def on_shutdown(reason: str) -> None:
        call_outcome.end("completed")
        if settings.call_records_enabled and not stood_down:
            await file_call_record(
                settings,
                ledger,
                clinic_id=clinic_id,
                call_id=ctx.job.room.sid,
                turn_seconds=telemetry.end_to_end_seconds if telemetry else [],
            )

    ctx.add_shutdown_callback(on_shutdown)
    try:
        await ctx.connect()
        # a resumed call may still hold the lost receptionist: it never counts as first
        if not resumed and another_receptionist_came_first(ctx.room):
            logger.info("another receptionist already has this call; leaving it to them")
            stood_down = True
            ctx.shutdown(reason="duplicate dispatch")
            return
        participant = await _arriving_caller(ctx)
        if participant is None:
            # a job that started after the call ended re-creates the room by joining it
            logger.info("no caller in the room: the call ended before this receptionist came")
            stood_down = True
            ctx.shutdown(reason="no caller")
            return
        caller = phone_caller(participant)
        call_outcome.start("phone" if caller else "web")
        if caller is not None:
            ledger.channel = "phone"
            ledger.caller_phone = normalize_phone(caller.number, "US") if caller.number else None
        if named_clinic is None and caller is not None:
            dialled = await clinic_for_dialled_number(
                caller, resources.scheduling, resources.profiles
            )
            clinic_id = dialled or clinic_id
        telemetry = CallTelemetry(get_metrics(), providers=PROVIDERS, clinic_id=clinic_id)
        profile: ClinicProfile | None
        try:
            profile = await resources.profiles.get(clinic_id)
        except SchedulingError as exc:
            logger.error(
                "clinic profile unavailable, answering in fallback mode",
                extra={"clinic_id": clinic_id, "error": type(exc).__name__},
            )
            profile = None
            ledger.system_failure()
        line = PhoneLineControl(caller, cold_transfer(ctx, caller)) if caller else None
        agent: Receptionist | FallbackReceptionist = (
            Receptionist(
                profile=profile,
                scheduling=scheduling,
                resumed=resumed,
                tool_deadline_seconds=settings.tool_deadline_seconds,
                filler_delay_seconds=settings.tool_filler_delay_seconds,
                phone=line,
            )
            if profile is not None
            else FallbackReceptionist(
                clinic_id=clinic_id,
                scheduling=scheduling,
                tool_deadline_seconds=settings.tool_deadline_seconds,
                filler_delay_seconds=settings.tool_filler_delay_seconds,
            )
        )
        agent.call_ledger = ledger
        on_phone = caller is not None
        session = build_session(
            settings, build_pipeline(settings, voice_activity=resources.vad, phone=on_phone)
        )
        telemetry.attach(session)
        CallRecorder(ledger).attach(session)
        SilenceWatcher(
            session,
            timeout_seconds=settings.silence_timeout_seconds,
            nudge=prompts.silence_nudge(),
            goodbye=prompts.silence_goodbye(profile),
        ).attach()

        def on_close(event: CloseEvent) -> None:
            call_outcome.end("failed" if event.error is not None else "completed")
            ctx.shutdown(reason=event.reason.value)

        session.on("close", on_close)
        if isinstance(agent, Receptionist) and resumed:
            agent.caller_phone = caller.number if caller else None
        await session.start(
            agent=agent, room=ctx.room, room_options=room_options(settings, phone=on_phone)
        )
        if caller is not None:
            listen_to_keypad(ctx.room, session, caller)
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
        call_outcome.end("failed")
        ledger.system_failure()
        raise


async def _reap_forever(directory: str) -> None:
    while True:
        await asyncio.sleep(REAP_INTERVAL_SECONDS)
        reaped = await asyncio.to_thread(reap_dead_processes, directory)
        if reaped:
            logger.info("dropped live gauges of exited job processes", extra={"pids": reaped})


def _run_in_background(work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    _background_tasks.add(task)
    task.add_done_callback(_background_tasks.discard)


def _on_worker_started(settings: Settings, server: AgentServer) -> None:
    """Main process, right after the framework wiped the metrics directory."""
    install_redaction()
    preinitialise_metrics(settings)
    # the framework only creates its active-job series when the first job starts
    framework_metrics.RUNNING_JOB_GAUGE.labels(nodename=utils.nodename())
    _run_in_background(_reap_forever(settings.prometheus_multiproc_dir))
    if settings.dispatch_heartbeat_url:
        heartbeat = HeartbeatSender(
            token_service_url=settings.dispatch_heartbeat_url,
            api_key=settings.livekit_api_key.get_secret_value(),
            api_secret=settings.livekit_api_secret.get_secret_value(),
            worker_id=new_worker_id(),
            calls=lambda: calls_of(server.active_jobs),
            interval_seconds=settings.dispatch_heartbeat_seconds,
        )
        _run_in_background(heartbeat.run_forever())


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
    server.on("worker_started", lambda: _on_worker_started(settings, server))
    return server
