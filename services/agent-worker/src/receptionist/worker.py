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
from livekit.agents import AgentServer, JobContext, JobExecutorType, JobProcess, utils, vad
from livekit.agents.telemetry import metrics as framework_metrics
from livekit.agents.voice.events import CloseEvent

from . import prompts, tool_schemas
from .agent import FallbackReceptionist, Receptionist
from .call_recorder import CallRecorder, CallScheduling
from .call_records import CallRecordSender
from .call_report import CallLedger, call_record, outcome
from .call_summary import CallSummarizer
from .capacity import CapacityLoad
from .config import Settings, get_settings
from .front_desk import utc_now
from .heartbeat import HeartbeatSender, calls_of, new_worker_id
from .logs import install_redaction
from .metrics import get_metrics, reap_dead_processes
from .phone import normalize_phone
from .pipeline import PROVIDERS, build_pipeline, build_session, load_vad, room_options
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


def clinic_id_from_metadata(metadata: str, default: str) -> str:
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


SIP_PHONE_ATTRIBUTE = "sip.phoneNumber"


def caller_phone_in(room: rtc.Room) -> str | None:
    """The number a phone caller dials from (LiveKit SIP's participant attribute)."""
    for participant in room.remote_participants.values():
        if participant.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP:
            number = participant.attributes.get(SIP_PHONE_ATTRIBUTE)
            if number:
                return number
    return None


def note_channel(ledger: CallLedger, room: rtc.Room) -> None:
    """A SIP participant makes the call a phone call, and its number the caller's."""
    if not any(
        p.kind == rtc.ParticipantKind.PARTICIPANT_KIND_SIP
        for p in room.remote_participants.values()
    ):
        return
    ledger.channel = "phone"
    number = caller_phone_in(room)
    ledger.caller_phone = normalize_phone(number, "US") if number else None


async def report_call(
    settings: Settings,
    ledger: CallLedger,
    *,
    clinic_id: str,
    call_id: str,
    turn_seconds: list[float],
) -> None:
    """After the call: the summary (if it comes in time), then the record, stored with
    retries. Runs once the caller is gone, so nothing here can slow the call."""
    ended_at = utc_now()
    summary = None
    if settings.call_summary_enabled:
        summary = await CallSummarizer(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            model=settings.openai_model,
            timeout_seconds=settings.call_summary_timeout_seconds,
        ).summarise(outcome(ledger), ledger)
    record = call_record(
        ledger, call_id=call_id, ended_at=ended_at, turn_seconds=turn_seconds, summary=summary
    )
    await CallRecordSender(
        settings.scheduling_api_url,
        settings.scheduling_api_token.get_secret_value(),
        timeout_seconds=settings.call_record_timeout_seconds,
        max_attempts=settings.call_record_max_attempts,
        backoff_seconds=settings.call_record_backoff_seconds,
    ).send(clinic_id, record)


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


async def _caller_arrives(ctx: JobContext) -> bool:
    """The caller is in the room already (they always join first), or joins very soon."""
    try:
        await asyncio.wait_for(
            ctx.wait_for_participant(kind=list(CALLER_KINDS)), CALLER_WAIT_SECONDS
        )
    except TimeoutError:
        return False
    return True


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
    """Counts a call exactly once, whichever way it ends."""

    def __init__(self) -> None:
        self._metrics = get_metrics()
        self._ended = False
        self._metrics.sessions.labels(outcome="started").inc()
        self._metrics.active_sessions.inc()

    def end(self, outcome: str) -> None:
        if self._ended:
            return
        self._ended = True
        self._metrics.sessions.labels(outcome=outcome).inc()
        self._metrics.active_sessions.dec()


async def entrypoint(ctx: JobContext) -> None:
    settings = get_settings()
    resources = ProcessResources.of(ctx.proc)
    clinic_id = clinic_id_from_metadata(ctx.job.metadata, settings.default_clinic_id)
    call_outcome = _CallOutcome()
    ledger = CallLedger(started_at=utc_now())
    scheduling = CallScheduling(resources.scheduling, ledger)
    telemetry = CallTelemetry(get_metrics(), providers=PROVIDERS, clinic_id=clinic_id)
    # set when this job stands down (another receptionist has the call, or no caller came):
    # the call's record is the other job's to file, or there was no call
    stood_down = False

    async def on_shutdown(reason: str) -> None:
        call_outcome.end("completed")
        if settings.call_records_enabled and not stood_down:
            await report_call(
                settings,
                ledger,
                clinic_id=clinic_id,
                call_id=ctx.job.room.sid,
                turn_seconds=telemetry.end_to_end_seconds,
            )

    ctx.add_shutdown_callback(on_shutdown)
    try:
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
        resumed = resumed_from_metadata(ctx.job.metadata)
        agent: Receptionist | FallbackReceptionist = (
            Receptionist(
                profile=profile,
                scheduling=scheduling,
                resumed=resumed,
                tool_deadline_seconds=settings.tool_deadline_seconds,
                filler_delay_seconds=settings.tool_filler_delay_seconds,
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
        session = build_session(settings, build_pipeline(settings, voice_activity=resources.vad))
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
        await ctx.connect()
        note_channel(ledger, ctx.room)
        ctx.room.on("participant_connected", lambda _: note_channel(ledger, ctx.room))
        # a resumed call may still hold the lost receptionist: it never counts as first
        if not resumed and another_receptionist_came_first(ctx.room):
            logger.info("another receptionist already has this call; leaving it to them")
            stood_down = True
            ctx.shutdown(reason="duplicate dispatch")
            return
        if not await _caller_arrives(ctx):
            # a job that started after the call ended re-creates the room by joining it
            logger.info("no caller in the room: the call ended before this receptionist came")
            stood_down = True
            ctx.shutdown(reason="no caller")
            return
        if isinstance(agent, Receptionist) and resumed:
            agent.caller_phone = caller_phone_in(ctx.room)
        await session.start(agent=agent, room=ctx.room, room_options=room_options(settings))
        logger.info(
            "call started",
            extra={"clinic_id": clinic_id, "fallback": profile is None, "resumed": resumed},
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
