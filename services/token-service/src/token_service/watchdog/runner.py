"""The watchdog loop: every replica competes for the lease; the leader checks each due
room and acts on `policy.decide`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from token_service.watchdog.livekit_rooms import LiveKitRooms
from token_service.watchdog.metrics import WatchdogMetrics
from token_service.watchdog.policy import (
    STATUS_BUSY,
    STATUS_RESUMING,
    STATUS_SERVED,
    STATUS_UNAVAILABLE,
    WAIT_REPORT_SECONDS,
    Action,
    RetryPolicy,
    decide,
)
from token_service.watchdog.store import (
    LeaderLock,
    RoomRegistry,
    TrackedRoom,
    WorkerCall,
    WorkerHeartbeats,
)

logger = logging.getLogger("token_service.watchdog")
ROOMS_PER_TICK = 200
WORKERS_PER_TICK = 50
SHUTDOWN_SECONDS = 1.0


class DispatchWatchdog:
    def __init__(
        self,
        *,
        registry: RoomRegistry,
        lock: LeaderLock,
        rooms: LiveKitRooms,
        policy: RetryPolicy,
        metrics: WatchdogMetrics,
        tick_seconds: float,
        heartbeats: WorkerHeartbeats,
        worker_silence_seconds: float,
    ) -> None:
        self._registry = registry
        self._heartbeats = heartbeats
        self._worker_silence = worker_silence_seconds
        # a new leader judges no worker silent before one silence has passed under it: a
        # token service that was down (every heartbeat refused) must not condemn them all
        self._leading_since: float | None = None
        self._lock = lock
        self._rooms = rooms
        self._policy = policy
        self._metrics = metrics
        self._tick = tick_seconds
        self._leading = False
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True

    async def run_forever(self) -> None:
        try:
            while not self._stopping:
                await self._tick_once()
                if not self._stopping:
                    await asyncio.sleep(self._tick)
        finally:
            self._metrics.leader.set(0)
            # shutting down: hand the lease over now rather than after its TTL, but never
            # hold up the shutdown for it
            if self._leading:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._lock.release(), SHUTDOWN_SECONDS)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._rooms.aclose(), SHUTDOWN_SECONDS)

    async def _tick_once(self) -> None:
        try:
            leading = await self._lock.hold()
        except Exception as error:  # Redis down: nobody can lead; retry next tick
            logger.warning("watchdog lease unavailable", extra={"error": type(error).__name__})
            leading = False
        if leading != self._leading:
            logger.info(
                "watchdog leadership changed",
                extra={"leading": leading, "replica": self._lock.replica_id},
            )
        self._leading = leading
        self._metrics.leader.set(1 if leading else 0)
        if not leading:
            self._leading_since = None
            return
        try:
            now = time.time()
            if self._leading_since is None:
                self._leading_since = now
            elif now - self._leading_since >= self._worker_silence:
                await self._resume_calls_of_silent_workers(now)
            self._metrics.tracked.set(await self._registry.count())
            for room in await self._registry.due(now, ROOMS_PER_TICK):
                await self._check(room, now)
        except Exception:
            logger.exception("watchdog pass failed; retrying next tick")

    async def _resume_calls_of_silent_workers(self, now: float) -> None:
        """A worker whose heartbeat stopped is dead (SIGKILL, a lost node): its
        receptionists are taken out of their rooms and each call is watched as lost, so
        the next look dispatches a resumed receptionist."""
        silent = await self._heartbeats.silent_since(now - self._worker_silence, WORKERS_PER_TICK)
        for worker_id, calls in silent:
            if calls:
                logger.warning(
                    "agent worker silent: resuming the calls it had",
                    extra={"fields": {"calls": len(calls)}},
                )
            for call in calls:
                await self._take_over(call, now)
            await self._heartbeats.forget(worker_id)

    async def _take_over(self, call: WorkerCall, now: float) -> None:
        # the page learns first that the receptionist leaving next is a loss
        await self._set_status(call.room, STATUS_RESUMING)
        try:
            removed = await self._rooms.remove_participant(call.room, call.identity)
        except Exception as error:
            logger.warning(
                "could not remove a dead worker's receptionist",
                extra={"fields": {"error": type(error).__name__}},
            )
            removed = True  # still in the room as far as we know: resume the call anyway
        if not removed:
            return  # the call had ended, or LiveKit's webhook already reported the loss
        self._metrics.lost.labels(detected_by="heartbeat").inc()
        await self._registry.agent_lost(call.room, now)

    async def _check(self, room: TrackedRoom, now: float) -> None:
        if room.agent_joined:
            await self._served(room)
            return
        try:
            view = await self._rooms.view(room.name)
        except Exception as error:
            logger.warning("could not look at a room", extra={"error": type(error).__name__})
            return
        age = now - room.first_seen
        action = decide(
            self._policy, age_seconds=age, attempts=room.attempts, view=view, resumed=room.resumed
        )
        held = room.status == STATUS_BUSY
        if action is Action.WAIT:
            return
        if action is Action.SERVED:
            await self._served(room)
            return
        if action is Action.CALLER_LEFT:
            if held:
                self._metrics.abandoned.labels(reason="caller_left").inc()
            await self._registry.forget(room.name)
            return
        if action is Action.GIVE_UP:
            self._metrics.abandoned.labels(reason="retries_exhausted").inc()
            await self._set_status(room.name, STATUS_UNAVAILABLE)
            await self._registry.forget(room.name)
            logger.warning(
                "no receptionist within the retry window",
                extra={"attempts": room.attempts, "waited_seconds": round(age, 1)},
            )
            return
        # DISPATCH or HOLD: the caller is alone in the room and retries are still running
        if not held:
            await self._set_status(room.name, STATUS_BUSY)
            await self._registry.update(room.name, status=STATUS_BUSY)
        if age > WAIT_REPORT_SECONDS and not room.waited_reported:
            self._metrics.waited.inc()
            await self._registry.update(room.name, waited=1)
        attempts = room.attempts
        if action is Action.DISPATCH:
            await self._rooms.dispatch_again(room.name, resumed=room.resumed)
            attempts += 1
            self._metrics.retries.inc()
            logger.info("dispatched the receptionist again", extra={"attempt": attempts})
        await self._registry.update(
            room.name, attempts=attempts, next_at=now + self._policy.backoff(max(attempts, 1))
        )

    async def _served(self, room: TrackedRoom) -> None:
        if room.status == STATUS_BUSY:
            self._metrics.served_after_wait.inc()
            await self._set_status(room.name, STATUS_SERVED)
        await self._registry.forget(room.name)

    async def _set_status(self, room: str, status: str) -> None:
        """Best effort: a room that just ended has nobody left to tell."""
        try:
            await self._rooms.set_status(room, status)
        except Exception as error:
            logger.warning(
                "could not publish the dispatch status",
                extra={"status": status, "error": type(error).__name__},
            )
