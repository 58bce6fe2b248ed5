"""The latency model: what the providers cost, what our turn detection costs, what is left."""

from __future__ import annotations

import pytest
from call_sim.latency import (
    LlmRound,
    ProviderProfile,
    TurnDetection,
    breakdown,
    deltas_to_first_sentence,
    first_audio_at,
    percentile,
    rounds_before_speech,
    tokens_of,
    tool_call_deltas,
)

SIM = ProviderProfile(
    stt_endpointing=0.2, stt_final_delay=0.1, llm_ttft=0.3, llm_token_interval=0.0125, tts_ttfb=0.12
)


def test_tokens_follow_provider_sims_rule() -> None:
    assert tokens_of("You're all set.") == ["You", "'", "re", " all", " set", "."]
    assert tokens_of("appointments") == ["appointm", "ents"]


def test_first_sentence_waits_for_the_next_one_to_start() -> None:
    # "You're all set." is under 20 characters, so it merges with the next sentence;
    # a single sentence goes to the TTS only when the LLM is done.
    text = "You're all set. Is there anything else I can help you with?"
    assert deltas_to_first_sentence(text) == len(tokens_of(text))
    long_first = "Thank you for calling today. Goodbye!"
    # "Thank you for calling today." (28 chars) is emitted once " Goodbye" has arrived
    assert deltas_to_first_sentence(long_first) == len(
        tokens_of("Thank you for calling today. Goodbye")
    )


def test_the_first_clause_goes_to_the_tts_once_the_next_word_starts() -> None:
    text = "Sure, I have Tuesday at nine. Which suits you?"
    assert deltas_to_first_sentence(text, first_clause=True) == len(tokens_of("Sure, I"))
    # a short sentence is a clause as well; under 4 characters it is not
    assert deltas_to_first_sentence("Okay. Let me see.", first_clause=True) == len(
        tokens_of("Okay. Let")
    )
    assert deltas_to_first_sentence("Ok, so this is it, then.", first_clause=True) == len(
        tokens_of("Ok, so this is it, then")
    )
    assert deltas_to_first_sentence(text, first_clause=True) < deltas_to_first_sentence(text)


def test_rounds_count_the_first_clause_when_the_agent_chunks_by_clause() -> None:
    steps = [{"say": "Sure, I have Tuesday at nine in the morning. Does that work?"}]
    by_clause = rounds_before_speech(steps, first_clause=True)
    assert by_clause == [LlmRound("text", len(tokens_of("Sure, I")))]
    assert rounds_before_speech(steps)[0].deltas > by_clause[0].deltas


def test_abbreviations_do_not_end_a_sentence() -> None:
    text = "Your visit with Dr. Emily Chen is at nine in the morning. See you then!"
    assert deltas_to_first_sentence(text) > len(tokens_of("Your visit with Dr. Emily"))


def test_tool_call_deltas_count_header_and_4_character_fragments() -> None:
    # {"option": "option-1"} is 22 characters: 6 fragments plus the header
    assert tool_call_deltas({"option": "option-1"}) == 7
    assert tool_call_deltas({}) == 2  # "{}" still streams as one fragment
    # a template counts as 8 characters, the length of "option-4"
    assert tool_call_deltas({"option": "{{ book_appointment | regex: (option-\\d+) = }}"}) == 7


def test_rounds_stop_at_the_first_step_that_speaks() -> None:
    steps = [
        {"tool_calls": [{"name": "find_appointments", "arguments": {"a": "1"}}]},
        {"tool_calls": [{"name": "end_call"}]},
        {"say": "Hello there, how are you doing today?"},
        {"say": "never reached"},
    ]
    rounds = rounds_before_speech(steps)
    assert [r.kind for r in rounds] == ["tool", "tool", "text"]


def test_when_the_llm_is_slower_than_turn_detection_the_config_costs_nothing() -> None:
    rounds = [LlmRound("text", 11)]  # first sentence after 11 tokens: 0.3 + 10 × 12.5 ms
    ideal = first_audio_at(SIM, TurnDetection(), rounds)
    # STT final at 0.3 s starts the LLM (preemptive); the first sentence is ready at
    # 0.725 s, after the 0.5 s commit; the TTS adds 0.12 s
    assert ideal == pytest.approx(0.845)
    split = breakdown(1.0, SIM, TurnDetection(), rounds)
    assert split is not None
    assert split.turn_detection_ms == pytest.approx(0.0)
    assert split.providers_ms == pytest.approx(845)
    assert split.stt_ms + split.llm_ms + split.tts_ms == pytest.approx(split.providers_ms)
    assert split.system_added_ms == pytest.approx(155)
    assert split.added_vs_providers_ms == pytest.approx(155)


def test_when_turn_detection_is_slower_it_shows_as_its_own_line() -> None:
    fast = ProviderProfile(0.05, 0.0, 0.05, 0.001, 0.05)
    rounds = [LlmRound("text", 1)]
    split = breakdown(0.9, fast, TurnDetection(vad_min_silence=0.55, preemptive_tts=False), rounds)
    assert split is not None
    # providers alone: 0.05 + 0.05 + 0.05; the turn is committed at 0.55, then TTS 0.05
    assert split.providers_ms == pytest.approx(150)
    assert split.ideal_ms == pytest.approx(600)
    assert split.turn_detection_ms == pytest.approx(450)
    assert split.system_added_ms == pytest.approx(300)
    assert split.added_vs_providers_ms == pytest.approx(750)


def test_tools_wait_for_the_commit_and_each_round_adds_up() -> None:
    rounds = [LlmRound("tool", 5), LlmRound("text", 3)]
    with_preemption = first_audio_at(SIM, TurnDetection(), rounds)
    # tool round: 0.3 + 0.3 + 4 × 0.0125 = 0.65 (after the 0.5 commit); text round:
    # 0.3 + 2 × 0.0125; then the TTS
    assert with_preemption == pytest.approx(0.65 + 0.325 + 0.12)
    without = first_audio_at(SIM, TurnDetection(preemptive_generation=False), rounds)
    assert without == pytest.approx(0.5 + 0.35 + 0.325 + 0.12)


def test_preemptive_tts_hides_the_tts_behind_a_slow_commit() -> None:
    fast_llm = ProviderProfile(0.2, 0.1, 0.1, 0.001, 0.12)
    rounds = [LlmRound("text", 1)]
    slow_commit = TurnDetection(vad_min_silence=0.3, endpointing_min_delay=0.5)
    # LLM done at 0.4; its audio is ready at 0.52 and waits for the 0.5 s commit: barely
    assert first_audio_at(fast_llm, slow_commit, rounds) == pytest.approx(0.52)
    later_commit = TurnDetection(vad_min_silence=0.3, endpointing_min_delay=0.7)
    assert first_audio_at(fast_llm, later_commit, rounds) == pytest.approx(0.7)
    no_preemptive_tts = TurnDetection(endpointing_min_delay=0.7, preemptive_tts=False)
    assert first_audio_at(fast_llm, no_preemptive_tts, rounds) == pytest.approx(0.82)


def test_a_turn_that_never_speaks_has_no_breakdown() -> None:
    assert breakdown(1.0, SIM, TurnDetection(), [LlmRound("tool", 3)]) is None


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([10.0], 0.95) == 10.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == pytest.approx(2.5)
    assert percentile([float(v) for v in range(1, 101)], 0.95) == pytest.approx(95.05)


def test_a_turn_the_agent_answers_without_an_llm_waits_for_the_commit_and_the_tts() -> None:
    detection = TurnDetection()
    committed = max(detection.vad_min_silence, detection.endpointing_min_delay, 0.3)
    assert first_audio_at(SIM, detection, []) == pytest.approx(committed + SIM.tts_ttfb)
    split = breakdown(0.9, SIM, detection, [])
    assert split is not None
    assert split.llm_ms == 0
    assert split.providers_ms == pytest.approx((0.3 + SIM.tts_ttfb) * 1000)
