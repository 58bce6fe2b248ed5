"""Where a turn's milliseconds went: providers, our turn detection, and the system. Pure.

The caller measures end to end: from the end of its last voiced audio frame to the first
voiced frame of the reply. That time has three parts.

1. **Simulated providers** — time the providers themselves take, which no system can
   avoid: provider-sim's STT end-of-speech detection (`SIM_STT_ENDPOINTING_MS`, standing
   in for Deepgram's endpointing) plus its final-result delay (`SIM_STT_FINAL_DELAY_MS`);
   for every LLM round before the first spoken word, the time to first token
   (`SIM_LLM_TTFT_MS`) plus the streaming of every delta the framework must wait for
   (a tool round's whole tool call; a text round's tokens up to the first sentence the TTS
   is given); and the TTS time to first byte (`SIM_TTS_TTFB_MS`). Laid end to end, this is
   `providers_ms`, split into `stt_ms`, `llm_ms` and `tts_ms`.
2. **Turn detection (our configuration)** — the agent commits the caller's turn only after
   the VAD has heard `VAD_MIN_SILENCE_SECONDS` of silence and at least
   `ENDPOINTING_MIN_DELAY_SECONDS` after the end of speech; with preemptive generation the
   LLM starts on the STT final before that, with preemptive TTS the reply's first audio is
   synthesised before the commit too (without it the TTS starts once the turn is
   committed), and tools run only after the commit. The critical path of an infinitely
   fast system under that configuration is `ideal_ms`;
   `turn_detection_ms = ideal_ms - providers_ms` is what the configured windows add beyond
   the providers (zero when the providers are slower).
3. **System added** — `system_added_ms = e2e_ms - ideal_ms`: everything else. WebRTC both
   ways (Opus framing, the SFU, jitter buffers), the agent's VAD reaching its decision on
   audio that arrives late, framework scheduling, tool calls to the scheduling API,
   process and CPU contention. This is the number the benchmark holds to 50/100 ms.

`added_vs_providers_ms = e2e_ms - providers_ms` is the plain "end to end minus the
providers' own sum" (it includes our turn-detection configuration).

Approximations (each worth at most one simulated token, 12.5 ms at 80 tokens/s): the first
sentence boundary follows LiveKit's blingfire tokenizer rules loosely (sentence end, next
word started, sentences under 20 characters merged, 10 characters of context); a tool
argument that is a template (`{{ ... }}`) is counted as 8 characters.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

VAD_MIN_SILENCE_SECONDS = 0.3  # agent-worker VAD_MIN_SILENCE_SECONDS default
ENDPOINTING_MIN_DELAY_SECONDS = 0.5  # agent-worker ENDPOINTING_MIN_DELAY_SECONDS default
MIN_SENTENCE_CHARS = 20  # LiveKit's blingfire SentenceTokenizer defaults
MIN_CLAUSE_CHARS = 4  # agent-worker receptionist.clauses (TTS_CHUNKING=clause)
STREAM_CONTEXT_CHARS = 10
ARGUMENT_FRAGMENT_CHARS = 4  # provider-sim streams tool arguments 4 characters at a time
TEMPLATE_PLACEHOLDER = "x" * 8

# provider-sim's own token rule (a word of up to 8 letters, a punctuation run, or spaces)
_TOKEN = re.compile(r"\s*\w{1,8}|\s*[^\w\s]+|\s+")
_TEMPLATE = re.compile(r"\{\{.*?\}\}")
_SENTENCE_END = re.compile(r"[.!?]+[\"')\]]*(?=\s+\S)")
_CLAUSE_END = re.compile(r"[,;:\u2013\u2014][\"')\]]*(?=\s+\S)")
_ABBREVIATION = re.compile(r"\b(?:Dr|Mr|Mrs|Ms|St|Jr|Sr|vs|e\.g|i\.e)\.$", re.IGNORECASE)


@dataclass(frozen=True)
class ProviderProfile:
    """The simulated providers' fixed latencies, in seconds."""

    stt_endpointing: float
    stt_final_delay: float
    llm_ttft: float
    llm_token_interval: float
    tts_ttfb: float


@dataclass(frozen=True)
class TurnDetection:
    """Our turn-handling configuration, in seconds."""

    vad_min_silence: float = VAD_MIN_SILENCE_SECONDS
    endpointing_min_delay: float = ENDPOINTING_MIN_DELAY_SECONDS
    preemptive_generation: bool = True
    preemptive_tts: bool = True
    first_clause: bool = True  # TTS_CHUNKING=clause: the TTS starts on the first clause

    def instant(self) -> TurnDetection:
        return TurnDetection(
            0.0, 0.0, self.preemptive_generation, self.preemptive_tts, self.first_clause
        )


@dataclass(frozen=True)
class LlmRound:
    kind: Literal["tool", "text"]
    deltas: int  # streamed deltas the framework waits for in this round (at least 1)


def tokens_of(text: str) -> list[str]:
    return _TOKEN.findall(text)


def _first_sentence_ready(text: str) -> bool:
    """Would LiveKit's streaming sentence tokenizer hand a first sentence to the TTS now?"""
    if len(text) < STREAM_CONTEXT_CHARS:
        return False
    start = 0
    for match in _SENTENCE_END.finditer(text):
        if _ABBREVIATION.search(text[: match.end()]):
            continue
        if len(text[start : match.end()].strip()) >= MIN_SENTENCE_CHARS:
            return bool(text[match.end() :].strip())
    return False


def _first_clause_ready(text: str) -> bool:
    """Would the agent's first-clause tokenizer hand a first piece to the TTS now?"""
    ends = [m.end() for m in _CLAUSE_END.finditer(text)] + [
        m.end() for m in _SENTENCE_END.finditer(text) if not _ABBREVIATION.search(text[: m.end()])
    ]
    return any(len(text[:end].strip()) >= MIN_CLAUSE_CHARS for end in ends)


def deltas_to_first_sentence(text: str, *, first_clause: bool = False) -> int:
    """How many of provider-sim's streamed tokens the TTS waits for before it starts: a
    whole first sentence (LiveKit's default) or, with `first_clause`, the first clause."""
    ready = _first_clause_ready if first_clause else _first_sentence_ready
    tokens = tokens_of(text)
    pushed = ""
    for count, token in enumerate(tokens, start=1):
        pushed += token
        if ready(pushed):
            return count
    return max(1, len(tokens))  # one sentence: it goes to the TTS when the LLM finishes


def tool_call_deltas(arguments: Mapping[str, Any]) -> int:
    """Deltas of one streamed tool call: its header, then the arguments 4 characters at a
    time (templates counted as 8 characters)."""
    rendered = _TEMPLATE.sub(TEMPLATE_PLACEHOLDER, json.dumps(dict(arguments), ensure_ascii=False))
    return 1 + math.ceil(len(rendered) / ARGUMENT_FRAGMENT_CHARS)


def rounds_before_speech(
    steps: Sequence[Mapping[str, Any]],
    spoken_text: str | None = None,
    *,
    first_clause: bool = False,
) -> list[LlmRound]:
    """The LLM rounds of a turn up to and including the first one that speaks.

    `spoken_text` is what the agent actually said (templates resolved); without it the
    scripted text is used with templates counted as 8 characters.
    """
    rounds: list[LlmRound] = []
    for step in steps:
        say = step.get("say")
        if say:
            text = spoken_text if spoken_text else _TEMPLATE.sub(TEMPLATE_PLACEHOLDER, str(say))
            rounds.append(
                LlmRound("text", deltas_to_first_sentence(text, first_clause=first_clause))
            )
            return rounds
        calls = step.get("tool_calls") or []
        deltas = sum(tool_call_deltas(call.get("arguments") or {}) for call in calls)
        rounds.append(LlmRound("tool", max(1, deltas)))
    return rounds


def _llm_round_seconds(profile: ProviderProfile, llm_round: LlmRound) -> float:
    return profile.llm_ttft + (llm_round.deltas - 1) * profile.llm_token_interval


def first_audio_at(
    profile: ProviderProfile, detection: TurnDetection, rounds: Sequence[LlmRound]
) -> float | None:
    """Seconds from the end of the caller's speech to the reply's first audio, for a system
    that itself takes no time at all. No rounds: the agent's own code spoke once the turn
    was committed (the turn hook's confirmation). None when no round speaks."""
    stt_final = profile.stt_endpointing + profile.stt_final_delay
    committed = max(detection.vad_min_silence, detection.endpointing_min_delay, stt_final)
    if not rounds:
        return committed + profile.tts_ttfb
    start = stt_final if detection.preemptive_generation else committed
    for llm_round in rounds:
        done = start + _llm_round_seconds(profile, llm_round)
        if llm_round.kind == "text":
            if detection.preemptive_tts and detection.preemptive_generation:
                return max(done + profile.tts_ttfb, committed)
            return max(done, committed) + profile.tts_ttfb
        start = max(done, committed)  # tools run once the turn is committed
    return None


@dataclass(frozen=True)
class Breakdown:
    """One turn, in milliseconds (see the module docstring for each line)."""

    e2e_ms: float
    providers_ms: float
    stt_ms: float
    llm_ms: float
    tts_ms: float
    ideal_ms: float
    turn_detection_ms: float
    system_added_ms: float
    added_vs_providers_ms: float

    def as_dict(self) -> dict[str, float]:
        return {key: round(value, 1) for key, value in asdict(self).items()}


def breakdown(
    e2e_seconds: float,
    profile: ProviderProfile,
    detection: TurnDetection,
    rounds: Sequence[LlmRound],
) -> Breakdown | None:
    ideal = first_audio_at(profile, detection, rounds)
    providers = first_audio_at(profile, detection.instant(), rounds)
    if ideal is None or providers is None:
        return None
    stt = profile.stt_endpointing + profile.stt_final_delay
    llm = sum(_llm_round_seconds(profile, r) for r in rounds)
    return Breakdown(
        e2e_ms=e2e_seconds * 1000,
        providers_ms=providers * 1000,
        stt_ms=stt * 1000,
        llm_ms=llm * 1000,
        tts_ms=profile.tts_ttfb * 1000,
        ideal_ms=ideal * 1000,
        turn_detection_ms=(ideal - providers) * 1000,
        system_added_ms=(e2e_seconds - ideal) * 1000,
        added_vs_providers_ms=(e2e_seconds - providers) * 1000,
    )


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile (q in 0..1) of a small sample; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
