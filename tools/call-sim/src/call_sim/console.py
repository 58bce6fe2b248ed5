"""Human-readable progress lines for the terminal (the JSON logs go to stderr).

One line per step, aligned so a glance shows what is up, what failed and where its log is.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Console:
    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream or sys.stdout
        self._quiet = quiet
        self._started = time.monotonic()

    def _write(self, text: str) -> None:
        if self._quiet:
            return
        self._stream.write(text + "\n")
        self._stream.flush()

    def _stamp(self) -> str:
        return f"[{time.monotonic() - self._started:6.1f}s]"

    def step(self, name: str, detail: str = "") -> None:
        self._write(f"{self._stamp()} ▸ {name:<16} {detail}".rstrip())

    def ok(self, name: str, detail: str = "") -> None:
        self._write(f"{self._stamp()} ✓ {name:<16} {detail}".rstrip())

    def fail(self, name: str, detail: str = "") -> None:
        self._write(f"{self._stamp()} ✗ {name:<16} {detail}".rstrip())

    def say(self, text: str = "") -> None:
        """Free text (tables, transcripts); printed as is."""
        self._write(text)
