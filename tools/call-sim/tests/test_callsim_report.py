"""A turn's system-added time splits into caller → STT, agent and agent → caller."""

from __future__ import annotations

import pytest
from call_sim import catalog
from call_sim.caller import CallRecord, TurnResult
from call_sim.latency import Breakdown, ProviderProfile, TurnDetection
from call_sim.report import TurnAnalysis, analyse_turns, latency_rows
from call_sim.session_events import AGENT, CALLER, AgentRecord, ToolCall, Utterance

PROFILE = ProviderProfile(0.2, 0.1, 0.3, 0.0125, 0.12)
WALL = 1_000_000.0  # the caller's monotonic 0 on the agent's wall clock


def test_the_three_legs_add_up_to_the_system_added_time() -> None:
    scenario = catalog.load("faq")
    first = scenario.turns[0]
    # the caller stops at 10.0 and hears the reply at 11.1 (its own clock)
    turn = TurnResult(0, first.caller, 2.0, 8.0, 10.0, agent_audio_at=11.1)
    record = CallRecord(wall_offset=WALL, turns=[turn])
    heard = Utterance(
        CALLER,
        first.caller,
        created_at=WALL + 10.5,
        started_speaking_at=WALL + 8.1,
        stopped_speaking_at=WALL + 10.12,  # the VAD's anchor, late as it is
        metrics={"transcriptionDelay": 0.26},  # final at 10.38: 80 ms after 10.0 + 300 ms
    )
    reply = Utterance(
        AGENT,
        "Yes, we're in network with Delta Dental PPO and most PPO plans.",
        created_at=WALL + 11.0,
        started_speaking_at=WALL + 11.05,  # out: 50 ms
        stopped_speaking_at=None,
    )
    [analysis] = analyse_turns(
        scenario,
        record,
        AgentRecord([heard, reply], []),
        wall_offset=WALL,
        profile=PROFILE,
        detection=TurnDetection(),
    )
    split = analysis.breakdown
    assert split is not None
    assert analysis.inbound_ms == pytest.approx(80.0)
    assert analysis.outbound_ms == pytest.approx(50.0)
    assert analysis.agent_ms is not None
    total = analysis.inbound_ms + analysis.agent_ms + analysis.outbound_ms
    assert total == pytest.approx(split.system_added_ms)
    legs = analysis.as_dict()["system_added_legs_ms"]
    assert legs == {
        "caller_to_stt": 80.0,
        "agent": round(analysis.agent_ms, 1),
        "agent_to_caller": 50.0,
    }


def test_without_a_final_transcript_time_the_legs_are_unknown() -> None:
    scenario = catalog.load("faq")
    turn = TurnResult(0, scenario.turns[0].caller, 2.0, 8.0, 10.0, agent_audio_at=11.1)
    heard = Utterance(CALLER, "x", WALL + 10.5, WALL + 8.1, WALL + 10.12)
    [analysis] = analyse_turns(
        scenario,
        CallRecord(wall_offset=WALL, turns=[turn]),
        AgentRecord([heard], []),
        wall_offset=WALL,
        profile=PROFILE,
        detection=TurnDetection(),
    )
    assert analysis.inbound_ms is None
    assert analysis.agent_ms is None


def test_a_yes_the_turn_hook_answered_counts_no_llm_round_and_only_the_commit_and_tts() -> None:
    scenario = catalog.load("booking")
    yes = scenario.turns[2]
    turn = TurnResult(2, yes.caller, 2.0, 8.0, 10.0, agent_audio_at=11.0)
    heard = Utterance(CALLER, yes.caller, WALL + 10.5, WALL + 8.1, WALL + 10.1)
    commit = ToolCall("book_appointment", "{}", "Booked.", False, WALL + 10.7, by_turn_hook=True)
    confirmation = Utterance(AGENT, "You're all set.", WALL + 10.9, WALL + 10.95, None)
    [analysis] = analyse_turns(
        scenario,
        CallRecord(wall_offset=WALL, turns=[turn]),
        AgentRecord([heard, confirmation], [commit]),
        wall_offset=WALL,
        profile=PROFILE,
        detection=TurnDetection(),
    )
    assert analysis.llm_rounds == 0
    assert analysis.as_dict()["llm_rounds"] == 0
    split = analysis.breakdown
    assert split is not None
    assert split.llm_ms == 0
    assert split.ideal_ms == pytest.approx((0.5 + 0.12) * 1000)  # turn commit + TTS


def test_the_floor_sits_beside_the_legs_of_the_same_run() -> None:
    from call_sim import render
    from call_sim.floor import Floor, with_floor

    report = {
        "turns": [
            {"system_added_legs_ms": {"caller_to_stt": 80.0, "agent": 20.0, "agent_to_caller": 70}},
            {"system_added_legs_ms": {"caller_to_stt": 90.0, "agent": 10.0, "agent_to_caller": 64}},
            {
                "system_added_legs_ms": {
                    "caller_to_stt": None,
                    "agent": None,
                    "agent_to_caller": None,
                }
            },
        ]
    }
    floor = with_floor(report, Floor((60.0, 62.0, 58.0), lost=0))["webrtc_floor"]
    assert floor["p50_ms"] == 60.0
    assert floor["in_over_floor_ms"] == 25.0  # p50 of 80 and 90, minus 60
    assert floor["out_over_floor_ms"] == 7.0
    line = render.webrtc_floor_line(floor)
    assert "p50 60 / p95 62 ms one way (n=3, lost 0)" in line
    assert "caller → STT +25, agent → caller +7 ms" in line


def test_the_agent_leg_shows_what_each_provider_request_cost_beyond_the_simulator() -> None:
    from call_sim.latency import breakdown
    from call_sim.report import TurnAnalysis, latency_rows

    split = breakdown(0.9, PROFILE, TurnDetection(), [])

    def turn(index: int, stages: dict[str, float]) -> TurnAnalysis:
        return TurnAnalysis(index, "hi", "hi", "hello", 900.0, stages, 80.0, 30.0, 60.0, split)

    llm_ttft, tts_ttfb = PROFILE.llm_ttft * 1000, PROFILE.tts_ttfb * 1000
    turns = [
        turn(0, {"llm_ttft": llm_ttft + 12, "tts_ttfb": tts_ttfb + 4}),
        turn(1, {"tts_ttfb": tts_ttfb + 6}),  # the turn hook spoke: no LLM request
    ]
    rows = {row.name.strip(): row for row in latency_rows(turns, TurnDetection(), PROFILE)}
    assert rows["LLM request"].values_ms == pytest.approx((12.0,))
    assert rows["TTS request"].values_ms == pytest.approx((4.0, 6.0))
    without = {row.name.strip() for row in latency_rows(turns, TurnDetection())}
    assert "LLM request" not in without


def test_latency_table_reads_each_row_from_its_own_measure() -> None:
    split = Breakdown(
        e2e_ms=900,
        providers_ms=500,
        stt_ms=100,
        llm_ms=250,
        tts_ms=150,
        ideal_ms=500,
        turn_detection_ms=120,
        system_added_ms=280,
        added_vs_providers_ms=400,
    )
    stages = {"transcription": 310.0, "llm_ttft": 240.0, "end_to_end": 880.0}
    measured = TurnAnalysis(0, "hi", "hi", "hello", 900, stages, 80, 150, 50, split)
    bare = TurnAnalysis(
        1, "bye", None, None, None, {"transcription": 330.0}, None, None, None, None
    )
    detection = TurnDetection(vad_min_silence=0.3, endpointing_min_delay=0.5)

    rows = {row.name: row for row in latency_rows([measured, bare], detection)}

    assert rows["transcription"].values_ms == (310.0, 330.0)
    assert rows["llm_ttft"].values_ms == (240.0,)
    assert rows["end_of_utterance"].values_ms == ()
    assert rows["end_to_end (agent)"].values_ms == (880.0,)
    assert rows["end_to_end (caller)"].values_ms == (900,)
    assert rows["    stt"].values_ms == (100,)
    assert rows["  system added"].values_ms == (280,)
    assert rows["    caller → STT"].values_ms == (80,)
    assert rows["    agent"].values_ms == (150,)
    assert rows["    agent → caller"].values_ms == (50,)
    assert "VAD silence 300 ms, endpointing min 500 ms" in rows["  turn detection"].note
    without_breakdown = [row.name for row in latency_rows([bare], detection)]
    assert without_breakdown[-1] == "end_to_end (caller)"
    assert len(without_breakdown) == 7
