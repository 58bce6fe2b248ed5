"""Real offline speech recognition with pocketsphinx and its bundled US-English model."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import pocketsphinx

from provider_sim.audio import Int16Array, TimedWord

SAMPLE_RATE = 16000
_FRAMES_PER_SECOND = 100
_FILLER = re.compile(r"^(<.*>|\[.*\])$")
_ALTERNATE_PRONUNCIATION = re.compile(r"\(\d+\)$")


@dataclass(frozen=True)
class Recognition:
    text: str
    words: list[TimedWord]


class SphinxDecoderPool:
    """Decoders are costly (~0.4 s and ~95 MB each) but only busy during an utterance,
    so streams borrow one per utterance instead of owning one per connection."""

    def __init__(self) -> None:
        self._idle: list[pocketsphinx.Decoder] = []
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        self.release(self.acquire())

    def acquire(self) -> pocketsphinx.Decoder:
        """Blocking: may load a new decoder."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return pocketsphinx.Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")

    def release(self, decoder: pocketsphinx.Decoder) -> None:
        with self._lock:
            self._idle.append(decoder)


class SphinxUtterance:
    """One utterance on a borrowed decoder; every method blocks, so run them in a thread."""

    def __init__(self, pool: SphinxDecoderPool, *, offset: float) -> None:
        self._pool = pool
        self._offset = offset  # stream time of the utterance's first sample
        self._decoder = pool.acquire()
        self._decoder.start_utt()

    def feed(self, samples: Int16Array) -> None:
        self._decoder.process_raw(samples.astype("<i2").tobytes(), False, False)

    def partial(self) -> str:
        hypothesis = self._decoder.hyp()
        return str(hypothesis.hypstr) if hypothesis is not None else ""

    def finish(self) -> Recognition:
        decoder = self._decoder
        try:
            decoder.end_utt()
            words = [
                TimedWord(
                    _ALTERNATE_PRONUNCIATION.sub("", str(segment.word)),
                    self._offset + segment.start_frame / _FRAMES_PER_SECOND,
                    self._offset + (segment.end_frame + 1) / _FRAMES_PER_SECOND,
                )
                for segment in decoder.seg()
                if not _FILLER.match(str(segment.word))
            ]
        finally:
            self._pool.release(decoder)
        return Recognition(" ".join(word.word for word in words), words)
