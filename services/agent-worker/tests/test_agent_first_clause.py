"""The TTS starts on the reply's first clause, not on a whole 20-character sentence."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from livekit.agents import tokenize
from receptionist.clauses import FirstClauseTokenizer, first_clause_end
from receptionist.config import Settings
from receptionist.pipeline import build_pipeline, load_vad

REPLY = "Sure, I have Tuesday at 9 a.m. or Wednesday at 2 p.m. Which one suits you better?"
FIRST_AUDIO_TIMEOUT_SECONDS = 10.0


async def _pieces(tokenizer: tokenize.SentenceTokenizer, words: list[str]) -> list[list[str]]:
    """What the stream has handed on after each word pushed, then after the end."""
    stream = tokenizer.stream()
    emitted: list[str] = []

    async def collect() -> None:
        async for event in stream:
            emitted.append(event.token)

    reader = asyncio.create_task(collect())
    seen = []
    for word in words:
        stream.push_text(word)
        await asyncio.sleep(0)
        seen.append(list(emitted))
    stream.end_input()
    await reader
    seen.append(list(emitted))
    await stream.aclose()
    return seen


def _words(text: str) -> list[str]:
    return [word + " " for word in text.split(" ")]


async def test_the_first_clause_goes_out_once_the_next_word_starts() -> None:
    seen = await _pieces(FirstClauseTokenizer(), _words(REPLY))
    assert seen[0] == []  # "Sure," alone: the clause may go on
    assert seen[1] == ["Sure,"]  # "Sure, I": it ended
    assert seen[-1] == [
        "Sure,",
        "I have Tuesday at 9 a.m. or Wednesday at 2 p.m.",
        "Which one suits you better?",
    ]


async def test_the_default_tokenizer_waits_for_a_whole_sentence() -> None:
    """The baseline this replaces: nothing for the TTS until the sentence ended."""
    words = _words(REPLY)
    seen = await _pieces(tokenize.blingfire.SentenceTokenizer(), words)
    first_sentence = "Sure, I have Tuesday at 9 a.m. or Wednesday at 2 p.m."
    first_sentence_words = first_sentence.count(" ") + 1
    assert all(pieces == [] for pieces in seen[:first_sentence_words])


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ("Sure, I", len("Sure,")),
        ("Of course; let me", len("Of course;")),
        ("Okay. Let me", len("Okay.")),  # a short sentence is a clause too
        ("Ok, so", None),  # under 4 characters: no cut yet
        ("It costs 1,200 dollars", None),  # a comma inside a number is no boundary
        ("Dr. Lee can see you", None),  # an abbreviation is no boundary
    ],
)
def test_clause_boundaries(text: str, end: int | None) -> None:
    assert first_clause_end(text) == end


def test_every_word_reaches_the_tts_once() -> None:
    assert " ".join(FirstClauseTokenizer().tokenize(REPLY)) == REPLY


@pytest.fixture(scope="module")
def tts_sim(session_services: Any) -> Any:
    return session_services.start(
        ["provider-sim"],
        name="provider-sim-first-clause",
        env={
            "SIM_TTS_MODE": "synthetic",
            "SIM_STT_MODE": "scripted",
            "SIM_TTS_TTFB_MS": "0",
            "SIM_TTS_REALTIME_FACTOR": "0",
            "SIM_API_KEY": "sim-test-key",
        },
    )


@pytest.mark.parametrize(("chunking", "speaks_early"), [("clause", True), ("sentence", False)])
async def test_the_pipeline_tts_speaks_before_the_sentence_ends(
    tts_sim: Any, chunking: str, speaks_early: bool
) -> None:
    """The production Cartesia plugin against provider-sim: with `TTS_CHUNKING=clause`
    audio comes back while the LLM is still mid-sentence; with `sentence` it does not."""
    settings = Settings(
        tts_chunking=chunking,
        cartesia_base_url=tts_sim.base_url,
        cartesia_api_key="sim-test-key",
        deepgram_api_key="unused",
        openai_api_key="unused",
    )
    async with aiohttp.ClientSession() as http:
        pipeline = build_pipeline(settings, voice_activity=load_vad(settings))
        assert pipeline.tts is not None
        pipeline.tts._session = http  # type: ignore[attr-defined]
        stream = pipeline.tts.stream()
        try:
            for word in _words("Sure, I have Tuesday"):
                stream.push_text(word)
            first = asyncio.ensure_future(anext(aiter(stream)))
            # without the clause cut nothing can come: 2 s is plenty to be sure of that
            waited = FIRST_AUDIO_TIMEOUT_SECONDS if speaks_early else 2.0
            done, _ = await asyncio.wait({first}, timeout=waited)
            assert bool(done) is speaks_early
            for word in _words("at 9 a.m. or later. Which suits you?"):
                stream.push_text(word)
            stream.end_input()
            audio = await asyncio.wait_for(first, FIRST_AUDIO_TIMEOUT_SECONDS)
            assert audio.frame.samples_per_channel > 0
        finally:
            await stream.aclose()
            await pipeline.tts.aclose()
