"""State shared by the three stand-ins: settings, scenario, latency model, engines, metrics."""

from __future__ import annotations

import hmac
import logging
from collections import OrderedDict, deque
from pathlib import Path
from typing import Any

from provider_sim.config import Settings, SttMode, TtsMode
from provider_sim.latency import LatencyModel, LatencyProfile
from provider_sim.metrics import SimMetrics
from provider_sim.scenario import Scenario, ScenarioError, parse_scenario
from provider_sim.speech.piper_tts import PiperSynthesizer
from provider_sim.speech.sphinx_stt import SphinxDecoderPool

logger = logging.getLogger(__name__)

EMPTY_SCENARIO = Scenario(name="none")
_MAX_CURSORS = 10_000
_MAX_PROBLEMS = 50


def read_scenario_file(path: Path) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError(f"{path}: cannot read the scenario file: {error.strerror}") from None
    return parse_scenario(text, source=str(path))


class SimRuntime:
    def __init__(self, settings: Settings, scenario: Scenario | None = None) -> None:
        self.settings = settings
        self.scenario = scenario or EMPTY_SCENARIO
        self.latency = LatencyModel(
            LatencyProfile(
                stt_final_delay=settings.sim_stt_final_delay_ms / 1000.0,
                llm_ttft=settings.sim_llm_ttft_ms / 1000.0,
                llm_token_interval=1.0 / settings.sim_llm_tokens_per_second,
                tts_ttfb=settings.sim_tts_ttfb_ms / 1000.0,
                tts_realtime_factor=settings.sim_tts_realtime_factor,
            ),
            seed=settings.sim_seed,
            jitter=settings.sim_latency_jitter,
        )
        self.metrics = SimMetrics()
        self.piper: PiperSynthesizer | None = None
        self.sphinx: SphinxDecoderPool | None = None
        self.problems: deque[str] = deque(maxlen=_MAX_PROBLEMS)
        self.active_listen_streams = 0
        self.active_tts_sockets = 0
        self._caller_cursors: OrderedDict[str, int] = OrderedDict()

    def load_engines(self) -> None:
        """Load the offline speech engines the configured modes need (blocking, ~1 s)."""
        if self.settings.sim_tts_mode is TtsMode.PIPER and self.piper is None:
            self.piper = PiperSynthesizer.load()
        if self.settings.sim_stt_mode is SttMode.POCKETSPHINX and self.sphinx is None:
            self.sphinx = SphinxDecoderPool()
            self.sphinx.warm_up()

    def set_scenario(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.reset()
        logger.info("scenario loaded", extra={"scenario": scenario.name})

    def reset(self) -> None:
        """Forget per-call progress (caller-line cursors) and recorded problems."""
        self._caller_cursors.clear()
        self.problems.clear()

    def record_problem(self, message: str) -> None:
        self.problems.append(message)
        logger.warning("scenario problem", extra={"problem": message})

    def next_caller_line(self, cursor_key: str) -> tuple[int, str | None]:
        """Advance a call's caller-line cursor; returns the line index and its text."""
        index = self._caller_cursors.pop(cursor_key, -1) + 1
        self._caller_cursors[cursor_key] = index
        while len(self._caller_cursors) > _MAX_CURSORS:
            self._caller_cursors.popitem(last=False)
        lines = self.scenario.caller_lines
        return index, lines[index] if index < len(lines) else None

    def forget_cursor(self, cursor_key: str) -> None:
        self._caller_cursors.pop(cursor_key, None)

    def authorized(self, presented: str | None) -> bool:
        """Any non-empty key passes unless SIM_API_KEY is set; then it must match."""
        if not presented:
            return False
        expected = self.settings.sim_api_key
        return expected is None or hmac.compare_digest(presented.encode(), expected.encode())

    def describe(self) -> dict[str, Any]:
        scenario = self.scenario
        return {
            "scenario": {
                "name": scenario.name,
                "greeting_responses": len(scenario.greeting),
                "caller_turns": len(scenario.turns),
                "fallback_reply": scenario.fallback_reply,
            },
            "modes": {"stt": self.settings.sim_stt_mode, "tts": self.settings.sim_tts_mode},
            "provider_profile": self.settings.sim_provider_profile,
            "latency_seconds": self.latency.profile.as_dict(),
            "latency_jitter": self.latency.jitter,
            "seed": self.latency.seed,
            "stt_endpointing_seconds": self.settings.sim_stt_endpointing_ms / 1000.0,
            "active": {
                "listen_streams": self.active_listen_streams,
                "tts_sockets": self.active_tts_sockets,
            },
            "problems": list(self.problems),
        }
