"""Per-process cache of clinic profiles with a short TTL.

Every call starts by reading the clinic profile; caching it per job process saves a round
trip on the critical path while an edit in the scheduling API still shows up within the TTL.
Concurrent misses for one clinic share a single fetch.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from .resources import ClinicProfile

ProfileLoader = Callable[[str], Awaitable[ClinicProfile]]


class ProfileCache:
    def __init__(
        self,
        loader: ProfileLoader,
        *,
        ttl_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._loader = loader
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[str, tuple[float, ClinicProfile]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, clinic_id: str) -> ClinicProfile:
        """The cached profile while fresh, else a fresh fetch (errors propagate)."""
        cached = self._fresh(clinic_id)
        if cached is not None:
            return cached
        lock = self._locks.setdefault(clinic_id, asyncio.Lock())
        async with lock:
            cached = self._fresh(clinic_id)
            if cached is not None:
                return cached
            profile = await self._loader(clinic_id)
            self._entries[clinic_id] = (self._clock() + self._ttl, profile)
            return profile

    def _fresh(self, clinic_id: str) -> ClinicProfile | None:
        entry = self._entries.get(clinic_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]
