"""Choosing which free slots to offer a caller (pure, no I/O).

A caller can hold two or three options in their head, not twenty: offer a few, spread
out in time. `references.py` names the chosen ones for the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from .resources import Slot

MAX_OPTIONS = 3
MAX_DAYS_OFFERED = 2
MIN_GAP = timedelta(minutes=90)


def pick_options(slots: Sequence[Slot], *, limit: int = MAX_OPTIONS) -> list[Slot]:
    """The earliest slots that are at least `MIN_GAP` apart, over at most two days."""
    chosen: list[Slot] = []
    days: set[object] = set()
    for slot in sorted(slots, key=lambda s: s.start):
        day = slot.start.date()
        if day not in days and len(days) == MAX_DAYS_OFFERED:
            break
        if any(abs(slot.start - other.start) < MIN_GAP for other in chosen):
            continue
        chosen.append(slot)
        days.add(day)
        if len(chosen) == limit:
            break
    return chosen


def nearest_options(
    slots: Sequence[Slot], target: datetime, *, limit: int = MAX_OPTIONS
) -> list[Slot]:
    """The slots nearest to `target` (a time that fell through), in time order."""
    nearest = sorted(slots, key=lambda s: (abs(s.start - target), s.start))[:limit]
    return sorted(nearest, key=lambda s: s.start)
