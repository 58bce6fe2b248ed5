"""The per-process clinic profile cache."""

from __future__ import annotations

import asyncio

import pytest
from receptionist.profile_cache import ProfileCache
from receptionist.resources import ClinicProfile
from receptionist.scheduling_client import SchedulingUnavailable


class Loader:
    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def __call__(self, clinic_id: str) -> ClinicProfile:
        self.calls += 1
        await asyncio.sleep(0.01)
        if self.fail:
            raise SchedulingUnavailable("down")
        return ClinicProfile(clinic_id=clinic_id, name=f"v{self.calls}", timezone="UTC")


async def test_fresh_entries_are_reused_and_stale_ones_refetched() -> None:
    now = [0.0]
    loader = Loader()
    cache = ProfileCache(loader, ttl_seconds=60, clock=lambda: now[0])
    assert (await cache.get("a")).name == "v1"
    now[0] = 59
    assert (await cache.get("a")).name == "v1"
    now[0] = 61
    assert (await cache.get("a")).name == "v2"
    assert loader.calls == 2


async def test_concurrent_misses_share_one_fetch() -> None:
    loader = Loader()
    cache = ProfileCache(loader, ttl_seconds=60)
    profiles = await asyncio.gather(*(cache.get("a") for _ in range(5)))
    assert {p.name for p in profiles} == {"v1"}
    assert loader.calls == 1


async def test_failures_are_not_cached() -> None:
    loader = Loader()
    loader.fail = True
    cache = ProfileCache(loader, ttl_seconds=60)
    with pytest.raises(SchedulingUnavailable):
        await cache.get("a")
    loader.fail = False
    assert (await cache.get("a")).clinic_id == "a"
