"""Runs one call scenario against a running stack and returns its report.

Order: load the model script into provider-sim, seed bookings, synthesise the caller's
lines, scrape the worker's metrics, make the call (running each turn's `before` actions
just before the caller speaks), bring a stopped scheduling API back, scrape again, then
read the appointment book and put the report together. Slots taken from under the caller
are given back afterwards so later scenarios find the same book.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from call_sim.caller import Caller, CallerTiming, PlannedTurn
from call_sim.clients import ProviderSim, SchedulingApi, scrape
from call_sim.config import Settings
from call_sim.console import Console
from call_sim.expectations import CallFacts, evaluate
from call_sim.latency import (
    ENDPOINTING_MIN_DELAY_SECONDS,
    VAD_MIN_SILENCE_SECONDS,
    ProviderProfile,
    TurnDetection,
)
from call_sim.report import analyse_call, build_report, latency_rows, spoken_by_agent
from call_sim.scenario import CallScenario
from call_sim.stack import Stack
from call_sim.telephone import PhoneCall, phone_caller_token, telephone_channel
from call_sim.voice import CallerVoice, Pcm
from call_sim.worker_metrics import BOOKINGS_COUNTER, counts_by, diff, parse

SETTLE_SECONDS = 0.5  # the job process writes its last observations as the call ends
# the worker stores the record after the call and its summary, retrying while the API is
# down (scheduling-api-down restarts it after the call): its retries span about 30 s
CALL_RECORD_WAIT_SECONDS = 60.0
NO_SPEECH: Pcm = np.zeros(0, dtype=np.int16)


def caller_timing(settings: Settings) -> CallerTiming:
    return CallerTiming(
        turn_timeout_seconds=settings.turn_timeout_seconds,
        pause_seconds=settings.pause_seconds,
        agent_quiet_seconds=settings.agent_quiet_seconds,
        speech_threshold_dbfs=settings.speech_threshold_dbfs,
    )


def provider_profile(state: dict[str, Any]) -> ProviderProfile:
    """The latencies provider-sim reports it is using (its ground truth, not our settings)."""
    latency = state["latency_seconds"]
    return ProviderProfile(
        stt_endpointing=float(state["stt_endpointing_seconds"]),
        stt_final_delay=float(latency["stt_final_delay"]),
        llm_ttft=float(latency["llm_ttft"]),
        llm_token_interval=float(latency["llm_token_interval"]),
        tts_ttfb=float(latency["tts_ttfb"]),
    )


def turn_detection(stack: Stack) -> TurnDetection:
    def seconds(name: str, default: float) -> float:
        value = stack.worker_setting(name)
        return float(value) if value else default

    def flag(name: str) -> bool:
        return (stack.worker_setting(name) or "true").lower() not in ("0", "false", "no")

    return TurnDetection(
        vad_min_silence=seconds("VAD_MIN_SILENCE_SECONDS", VAD_MIN_SILENCE_SECONDS),
        endpointing_min_delay=seconds(
            "ENDPOINTING_MIN_DELAY_SECONDS", ENDPOINTING_MIN_DELAY_SECONDS
        ),
        preemptive_generation=flag("PREEMPTIVE_GENERATION"),
        preemptive_tts=flag("PREEMPTIVE_TTS"),
        first_clause=(stack.worker_setting("TTS_CHUNKING") or "clause") == "clause",
    )


class ScenarioRunner:
    def __init__(
        self, stack: Stack, settings: Settings, voice: CallerVoice, console: Console
    ) -> None:
        self.stack = stack
        self.settings = settings
        self.voice = voice
        self.console = console
        self._provider_sim = (
            ProviderSim(stack.urls.provider_sim) if stack.urls.provider_sim is not None else None
        )

    def _speak(self, text: str, *, phone: bool) -> Pcm:
        audio = self.voice.speak(text)
        return telephone_channel(audio) if phone else audio

    def _phone_token(self, scenario: CallScenario) -> Callable[[], Awaitable[tuple[str, str, str]]]:
        """The caller joins as LiveKit SIP would put a call in the room (see telephone.py)."""

        async def token() -> tuple[str, str, str]:
            room = f"call-{scenario.clinic}-{secrets.token_hex(6)}"
            jwt = phone_caller_token(
                self.stack.livekit_api_key,
                self.stack.livekit_secret,
                room_name=room,
                call=PhoneCall(scenario.phone.caller_number, scenario.phone.dialled_number),
                agent_name=self.stack.agent_name,
                clinic_id=scenario.clinic if scenario.phone.dispatch_clinic else None,
            )
            return self.stack.urls.livekit_ws, jwt, room

        return token

    async def run(self, scenario: CallScenario) -> dict[str, Any]:
        console = self.console
        run_id = secrets.token_hex(4)
        scheduling = SchedulingApi(
            self.stack.urls.scheduling_api, self.stack.scheduling_token, scenario.clinic
        )
        if self._provider_sim is not None:
            await self._provider_sim.load_script(scenario.provider_script_yaml())
        seeded = [
            await scheduling.seed(seed, key=f"call-sim-{run_id}-seed-{index}")
            for index, seed in enumerate(scenario.setup_bookings)
        ]
        if seeded:
            console.step("setup", f"{len(seeded)} booking(s) made through the scheduling API")
        on_phone = scenario.channel == "phone"
        planned = [
            PlannedTurn(
                turn.caller,
                NO_SPEECH
                if turn.keypad
                else await asyncio.to_thread(self._speak, turn.caller, phone=on_phone),
                turn.pause_seconds,
                keypad=turn.keypad or "",
            )
            for turn in scenario.turns
        ]
        before = parse(await scrape(self.stack.urls.worker_metrics))
        taken: list[dict[str, Any]] = []
        api_stopped = False

        async def before_turn(index: int) -> None:
            nonlocal api_stopped
            actions = scenario.turns[index].before
            if actions.take_earliest_slot is not None:
                grabbed = await scheduling.take_earliest(
                    actions.take_earliest_slot, key_prefix=f"call-sim-{run_id}-take-{index}"
                )
                taken.extend(grabbed)
                console.step(
                    "before turn",
                    f"{len(grabbed)} slot(s) at the earliest time booked by someone else",
                )
            if actions.stop_scheduling_api:
                await self.stack.component("scheduling-api").stop_async()
                api_stopped = True
                console.step("before turn", "scheduling API stopped")

        console.step(
            "call", f"{scenario.name}: {len(planned)} caller turn(s) on the {scenario.channel}"
        )
        caller = Caller(
            self.stack.urls.token_service,
            scenario.clinic,
            caller_timing(self.settings),
            token_source=self._phone_token(scenario) if on_phone else None,
        )
        try:
            record = await caller.call(
                planned,
                before_turn=before_turn,
                listen_after_seconds=scenario.listen_after_seconds,
            )
        finally:
            if api_stopped:
                self.stack.restart("scheduling-api")
        await asyncio.sleep(SETTLE_SECONDS)
        growth = diff(before, parse(await scrape(self.stack.urls.worker_metrics)))
        sim_state = await self._provider_sim.state() if self._provider_sim is not None else None
        bookings = {phone: await scheduling.bookings_for(phone) for phone in scenario.phones}
        callbacks = {phone: await scheduling.callbacks_for(phone) for phone in scenario.phones}
        for booking in taken:
            await scheduling.cancel(booking["booking_id"], "call-sim: slot given back")

        call_record = (
            await scheduling.call_record(record.room_sid, wait_seconds=CALL_RECORD_WAIT_SECONDS)
            if scenario.expect.call_outcome is not None and record.room_sid
            else None
        )
        record_after_s = round(time.monotonic() - record.ended_at, 1) if call_record else None
        profile = provider_profile(sim_state) if sim_state is not None else None
        detection = turn_detection(self.stack)
        agent, turns = analyse_call(scenario, record, profile=profile, detection=detection)
        rows = latency_rows(turns, detection, profile)
        facts = CallFacts(
            bookings_by_phone=bookings,
            callbacks_by_phone=callbacks,
            seeded_booking_ids={b["booking_id"] for b in seeded},
            tool_calls=agent.tool_calls,
            booking_outcomes=counts_by(growth, BOOKINGS_COUNTER, "outcome"),
            agent_said=spoken_by_agent(agent),
            ended_by=record.ended_by,
            call_record=call_record,
            caller_errors=record.errors,
            script_problems=list(sim_state.get("problems", [])) if sim_state else [],
        )
        checks = evaluate(scenario.expect, facts)
        return build_report(
            scenario=scenario,
            providers="real"
            if sim_state is None
            else f"simulated by provider-sim, `{sim_state.get('provider_profile')}` profile",
            provider_latencies_ms=None
            if profile is None
            else {
                "stt_endpointing": profile.stt_endpointing * 1000,
                "stt_final_delay": profile.stt_final_delay * 1000,
                "llm_ttft": profile.llm_ttft * 1000,
                "llm_token_interval": profile.llm_token_interval * 1000,
                "tts_ttfb": profile.tts_ttfb * 1000,
            },
            record=record,
            agent=agent,
            turns=turns,
            rows=rows,
            metrics_growth=growth,
            bookings=bookings,
            callbacks=callbacks,
            checks=checks,
            budget_ms=self.settings.budget_ms,
            wall_offset=record.wall_offset,
            sim_state=sim_state,
            call_record=call_record,
            call_record_after_s=record_after_s,
        )
