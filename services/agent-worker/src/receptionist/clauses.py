"""Hands the TTS the reply's first clause, then whole sentences.

LiveKit's default sentence tokenizer holds the reply until a whole first sentence of at
least 20 characters has streamed in and the next word has started. Every token the LLM
streams before that is time the caller hears nothing. This tokenizer cuts the first piece
at the first clause boundary instead (a comma, semicolon, colon or dash followed by the
next word, or a sentence end), so the TTS starts on "Sure," while the LLM streams the
rest. Everything after it goes as whole sentences, the way the default does.

The Cartesia plugin sends every piece with `continue: true` on one context, so the voice
carries its prosody across the cut (provider-sim honours the same continuation: one time
to first byte per context, later pieces follow on without a gap).
"""

from __future__ import annotations

import re
from typing import Final

from livekit import blingfire
from livekit.agents import tokenize
from livekit.agents.tokenize import token_stream
from livekit.agents.tokenize.tokenizer import SentenceStream

MIN_CLAUSE_CHARS: Final = 4
MIN_SENTENCE_CHARS: Final = 20  # LiveKit's default, for everything after the first clause

_CLAUSE_END = re.compile(r"[,;:\u2013\u2014][\"'\u201d\u2019)\]]*(?=\s)")

Span = tuple[str, int, int]


def _sentence_ends(text: str) -> list[int]:
    _, offsets = blingfire.text_to_sentences_with_offsets(text)
    return [end for _, end in offsets]


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentences of `text`, shorter ones merged forward (LiveKit's blingfire rule)."""
    if not text.strip():
        return []
    spans: list[Span] = []
    start = 0
    for end in _sentence_ends(text):
        sentence = " ".join(text[start:end].split())
        if len(sentence) < MIN_SENTENCE_CHARS:
            continue
        spans.append((sentence, offset + start, offset + end))
        start = end
    if rest := " ".join(text[start:].split()):
        spans.append((rest, offset + start, offset + len(text)))
    return spans


def first_clause_end(text: str) -> int | None:
    """Where the first clause of at least `MIN_CLAUSE_CHARS` ends, once the next word has
    started (until then the clause may go on: "9 a.m" is not yet "9 a.m. or")."""
    boundaries = sorted(
        {match.end() for match in _CLAUSE_END.finditer(text)} | set(_sentence_ends(text))
    )
    return next(
        (
            end
            for end in boundaries
            if len(text[:end].strip()) >= MIN_CLAUSE_CHARS and text[end:].strip()
        ),
        None,
    )


class _FirstClauseSplitter:
    """The tokenize callable of one stream: a clause first, then sentences."""

    def __init__(self) -> None:
        self._first_done = False

    def __call__(self, text: str) -> list[Span]:
        if self._first_done:
            return split_sentences(text)
        cut = first_clause_end(text)
        if cut is None:
            spans = split_sentences(text)
        else:
            clause = " ".join(text[:cut].split())
            spans = [(clause, 0, cut), *split_sentences(text[cut:], cut)]
        if len(spans) > 1:  # the stream hands the first span to the TTS now
            self._first_done = True
        return spans


class FirstClauseTokenizer(tokenize.SentenceTokenizer):
    """A `SentenceTokenizer` whose stream emits the first clause on its own."""

    def tokenize(self, text: str, *, language: str | None = None) -> list[str]:
        return [span[0] for span in _FirstClauseSplitter()(text)]

    def stream(self, *, language: str | None = None) -> SentenceStream:
        return token_stream.BufferedSentenceStream(
            tokenizer=_FirstClauseSplitter(),
            min_token_len=1,  # the splitter already merged what is too short
            min_ctx_len=1,
        )
