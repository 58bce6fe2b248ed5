"""The webhook dispatcher: delivers every clinic's outbox events to its endpoints.

Each endpoint reads the clinic's outbox through its own consumer group; the group's one
pending entry is the event being retried, so events reach an endpoint in order, one at a
time. Any number of dispatchers share the endpoints: whoever takes an endpoint's lease
delivers to it, and a crashed dispatcher's lease expires for another to take over (the
event is then sent again with the same `webhook-id`: at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Iterable
from datetime import datetime

from redis.exceptions import RedisError

from scheduling_api.dispatch.metrics import (
    DEAD_LETTERS,
    DELIVERIES,
    ENDPOINTS,
    OLDEST_UNDELIVERED,
)
from scheduling_api.dispatch.sender import Sender
from scheduling_api.domain.webhooks import DeliveryStatus, past_horizon, retry_delay
from scheduling_api.store.webhook_store import (
    OutboxEvent,
    StoredEndpoint,
    WebhookStore,
    delivery_id,
    event_body,
)

logger = logging.getLogger(__name__)

OUTBOX_KEEP_SECONDS = 24 * 3600
"""Delivered (or unsubscribed) events stay in the outbox this long, for inspection."""


class Dispatcher:
    def __init__(
        self,
        *,
        store: WebhookStore,
        clinic_ids: Iterable[str],
        sender: Sender,
        clock: Callable[[], datetime],
        retry_base_seconds: float,
        retry_max_delay_seconds: float,
        retry_horizon_seconds: float,
        lease_seconds: float,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._clinic_ids = tuple(clinic_ids)
        self._sender = sender
        self._clock = clock
        self._retry_base = retry_base_seconds
        self._retry_cap = retry_max_delay_seconds
        self._horizon = retry_horizon_seconds
        self._lease_ms = int(lease_seconds * 1000)
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.owner = f"dispatcher-{secrets.token_hex(6)}"

    async def run(self, stop: asyncio.Event, *, poll_seconds: float) -> None:
        """Deliver until `stop` is set; Redis outages are waited out."""
        while not stop.is_set():
            try:
                await self.run_once()
                await self.observe()
            except RedisError as exc:
                logger.warning(
                    "redis unavailable; dispatch resumes when it is back",
                    extra={"error_type": type(exc).__name__},
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=poll_seconds)

    async def run_once(self) -> int:
        """One pass over every endpoint; the number of delivery attempts made."""
        attempts = 0
        for clinic_id in self._clinic_ids:
            for stored in await self._store.list_endpoints(clinic_id):
                attempts += await self._serve(clinic_id, stored)
        return attempts

    async def _serve(self, clinic_id: str, stored: StoredEndpoint) -> int:
        endpoint_id = stored.endpoint.endpoint_id
        retry = await self._store.retry_state(clinic_id, endpoint_id)
        if retry is not None and retry.next_at > time.time():
            return 0
        if not await self._store.take_lease(clinic_id, endpoint_id, self.owner, self._lease_ms):
            return 0
        attempts = 0
        try:
            while True:
                event = await self._store.next_event(clinic_id, endpoint_id)
                if event is None:
                    return attempts
                if event.event_type not in stored.endpoint.events:
                    await self._store.skip(clinic_id, endpoint_id, event)
                    DELIVERIES.labels("skipped").inc()
                    continue
                retry = await self._store.retry_state(clinic_id, endpoint_id)
                if retry is not None and retry.next_at > time.time():
                    return attempts
                the_id = delivery_id(event.event_id, endpoint_id)
                previous = retry.attempts if retry is not None and retry.item == the_id else 0
                if not await self._store.renew_lease(
                    clinic_id, endpoint_id, self.owner, self._lease_ms
                ):
                    return attempts
                attempts += 1
                if not await self._attempt(clinic_id, stored, event, previous + 1):
                    return attempts
        finally:
            await self._store.release_lease(clinic_id, endpoint_id, self.owner)

    async def _attempt(
        self, clinic_id: str, stored: StoredEndpoint, event: OutboxEvent, attempt: int
    ) -> bool:
        """One attempt; True when the endpoint may move on to its next event."""
        endpoint = stored.endpoint
        result = await self._sender.send(
            endpoint.url, stored.secret, event.event_id, event_body(event)
        )
        now = self._clock()
        log = {
            "clinic_id": clinic_id,
            "endpoint_id": endpoint.endpoint_id,
            "delivery_id": delivery_id(event.event_id, endpoint.endpoint_id),
            "event_type": event.event_type,
            "attempt": attempt,
            "status_code": result.status_code,
        }
        if result.delivered:
            await self._store.finish(
                clinic_id,
                endpoint.endpoint_id,
                event,
                status=DeliveryStatus.DELIVERED,
                attempts=attempt,
                status_code=result.status_code,
                error=None,
                now=now,
            )
            DELIVERIES.labels("delivered").inc()
            logger.info("webhook delivered", extra=log)
            return True
        if past_horizon(event.first_due, now, self._horizon):
            await self._store.finish(
                clinic_id,
                endpoint.endpoint_id,
                event,
                status=DeliveryStatus.FAILED,
                attempts=attempt,
                status_code=result.status_code,
                error=result.error,
                now=now,
            )
            DELIVERIES.labels("dead_lettered").inc()
            logger.warning("webhook dead-lettered", extra={**log, "error": result.error})
            return True
        delay = retry_delay(attempt, base=self._retry_base, cap=self._retry_cap, rng=self._rng)
        await self._store.finish(
            clinic_id,
            endpoint.endpoint_id,
            event,
            status=DeliveryStatus.PENDING,
            attempts=attempt,
            status_code=result.status_code,
            error=result.error,
            now=now,
            next_at=time.time() + delay,
        )
        DELIVERIES.labels("retrying").inc()
        logger.info("webhook attempt failed", extra={**log, "error": result.error})
        return False

    async def observe(self) -> None:
        """Refresh the backlog gauges and trim what every endpoint is done with."""
        oldest: float | None = None
        dead = 0
        endpoints = 0
        now = time.time()
        for clinic_id in self._clinic_ids:
            ids = [s.endpoint.endpoint_id for s in await self._store.list_endpoints(clinic_id)]
            endpoints += len(ids)
            first = await self._store.oldest_undelivered(clinic_id, ids)
            if first is not None:
                oldest = first if oldest is None else min(oldest, first)
            dead += await self._store.dead_letters(clinic_id)
            keep_after = now - OUTBOX_KEEP_SECONDS
            await self._store.trim_outbox(
                clinic_id, keep_after if first is None else min(first, keep_after)
            )
        OLDEST_UNDELIVERED.set(0 if oldest is None else max(0.0, now - oldest))
        DEAD_LETTERS.set(dead)
        ENDPOINTS.set(endpoints)
