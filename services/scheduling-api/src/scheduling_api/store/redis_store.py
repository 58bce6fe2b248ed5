"""Redis adapter: the appointment book, its indexes, idempotency records and callbacks.

Every decision that depends on other writers (is this interval free? was this
idempotency key used? is this booking still confirmed?) is taken inside a Lua script,
which Redis runs atomically, so any number of API processes can share one Redis without
double-booking. Keys of one clinic share the hash tag `{clinic_id}`, so each script only
touches one Redis Cluster slot.

Layout (prefix `sched` by default, `c` = clinic id):
- `sched:{c}:busy:<provider>` sorted set of confirmed intervals, member `start:end:id`
- `sched:{c}:booking:<id>` hash: `doc` (immutable JSON), `status`, `updated_at`, ...
- `sched:{c}:bookings`, `sched:{c}:phone:<e164>`, `sched:{c}:day:<YYYY-MM-DD>` indexes
- `sched:{c}:idem:<kind>:<sha256(key)>` hash with the request fingerprint (expires)
- `sched:{c}:callback:<id>` hash and `sched:{c}:callbacks` index
- channel `sched:{c}:changes`: every write script publishes on it (see change_feed.py)
- stream `sched:{c}:outbox`: every write script adds the change's webhook event to it in
  the same step (see outbox.py)
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from importlib import resources
from typing import Any, cast

from pydantic import BaseModel
from redis.asyncio import Redis

from scheduling_api.domain.records import (
    IMMUTABLE_BOOKING_FIELDS,
    Booking,
    BookingStatus,
    Callback,
    CallbackStatus,
)
from scheduling_api.domain.slots import Interval, Refusal
from scheduling_api.store.change_feed import ChangeFeed, Generation, change_channel
from scheduling_api.store.outbox import EventType, new_event_id, outbox_key

_PAGE = 200
BUSY_CACHE_ENTRIES = 4_096

BusyByProvider = dict[str, tuple[Interval, ...]]


@dataclass(frozen=True, slots=True)
class _CachedBusy:
    generation: Generation
    expires: float
    busy: BusyByProvider


class WriteOutcome(StrEnum):
    CREATED = "created"
    REPLAYED = "replayed"
    KEY_REUSED = "key_reused"
    CONFLICT = "conflict"
    SLOT_IN_PAST = Refusal.SLOT_IN_PAST.value
    SLOT_UNAVAILABLE = Refusal.SLOT_UNAVAILABLE.value
    NOT_FOUND = "not_found"
    NOT_ACTIVE = "not_active"
    CANCELLED = "cancelled"
    RESCHEDULED = "rescheduled"
    RESOLVED = "resolved"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, slots=True)
class BookingWrite:
    outcome: WriteOutcome
    booking: Booking | None = None


def _lua(name: str) -> str:
    return resources.files("scheduling_api.store").joinpath(f"lua/{name}.lua").read_text()


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _event(event_type: EventType, data: BaseModel, at: datetime) -> list[str]:
    """The ARGV tail a write script XADDs to the outbox with its change."""
    return [new_event_id(), event_type.value, _iso(at), data.model_dump_json()]


class _Keys:
    def __init__(self, prefix: str, clinic_id: str) -> None:
        self.base = f"{prefix}:{{{clinic_id}}}"
        self.outbox_key = outbox_key(prefix, clinic_id)

    def busy(self, provider_id: str) -> str:
        return f"{self.base}:busy:{provider_id}"

    def booking(self, booking_id: str) -> str:
        return f"{self.base}:booking:{booking_id}"

    def bookings(self) -> str:
        return f"{self.base}:bookings"

    def phone(self, phone: str) -> str:
        return f"{self.base}:phone:{phone}"

    def day(self, day: date) -> str:
        return f"{self.base}:day:{day.isoformat()}"

    def idempotency(self, kind: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return f"{self.base}:idem:{kind}:{digest}"

    def callback(self, callback_id: str) -> str:
        return f"{self.base}:callback:{callback_id}"

    def callbacks(self) -> str:
        return f"{self.base}:callbacks"

    def outbox(self) -> str:
        return self.outbox_key


class RedisStore:
    def __init__(
        self,
        redis: Redis,
        *,
        key_prefix: str,
        idempotency_ttl_seconds: int,
        changes: ChangeFeed | None = None,
        busy_cache_seconds: float = 0.0,
    ) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._idempotency_ttl = idempotency_ttl_seconds
        self._changes = changes
        self._busy_cache_seconds = busy_cache_seconds if changes is not None else 0.0
        self._busy_cache: dict[tuple[str, tuple[str, ...], Interval], _CachedBusy] = {}
        self._busy = redis.register_script(_lua("busy"))
        self._book = redis.register_script(_lua("book"))
        self._reschedule = redis.register_script(_lua("reschedule"))
        self._cancel = redis.register_script(_lua("cancel"))
        self._resolve_callback = redis.register_script(_lua("resolve_callback"))
        self._create_callback = redis.register_script(_lua("create_callback"))

    def _keys(self, clinic_id: str) -> _Keys:
        return _Keys(self._prefix, clinic_id)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())  # type: ignore[misc]

    async def close(self) -> None:
        await self._redis.aclose()

    # -- availability -------------------------------------------------------------------

    async def busy_intervals(
        self, clinic_id: str, provider_ids: tuple[str, ...], window: Interval
    ) -> BusyByProvider:
        """Booked intervals per provider overlapping the window, in one round trip.

        Answers from memory when the same read was made under the clinic's current
        change-feed generation (and within the cache's time-to-live).
        """
        generation = self._cache_generation(clinic_id)
        key = (clinic_id, provider_ids, window)
        if generation is not None:
            cached = self._busy_cache.get(key)
            if (
                cached is not None
                and cached.generation == generation
                and cached.expires > time.monotonic()
            ):
                return cached.busy
        busy = await self._read_busy(clinic_id, provider_ids, window)
        if generation is not None and self._cache_generation(clinic_id) == generation:
            if len(self._busy_cache) >= BUSY_CACHE_ENTRIES:
                del self._busy_cache[next(iter(self._busy_cache))]
            expires = time.monotonic() + self._busy_cache_seconds
            self._busy_cache[key] = _CachedBusy(generation, expires, busy)
        return busy

    @property
    def change_feed_state(self) -> str:
        """For /readyz: "following", "down", or "off" when reads are never cached."""
        if self._changes is None or self._busy_cache_seconds <= 0:
            return "off"
        return "following" if self._changes.live else "down"

    def _cache_generation(self, clinic_id: str) -> Generation | None:
        if self._changes is None or self._busy_cache_seconds <= 0:
            return None
        return self._changes.generation(clinic_id)

    def _changed(self, clinic_id: str) -> None:
        """After any write of ours: our own later reads must not see the old book."""
        if self._changes is not None:
            self._changes.changed(clinic_id)

    async def _read_busy(
        self, clinic_id: str, provider_ids: Sequence[str], window: Interval
    ) -> BusyByProvider:
        keys = self._keys(clinic_id)
        replies = cast(
            "list[list[str]]",
            await self._busy(keys=[keys.busy(p) for p in provider_ids], args=list(window)),
        )
        return {
            provider_id: tuple(_member_interval(member) for member in members)
            for provider_id, members in zip(provider_ids, replies, strict=True)
        }

    # -- bookings -----------------------------------------------------------------------

    async def create_booking(
        self,
        booking: Booking,
        *,
        idempotency_key: str,
        fingerprint: str,
        refusal: Refusal | None,
    ) -> BookingWrite:
        keys = self._keys(booking.clinic_id)
        outcome, booking_id = cast(
            "list[str]",
            await self._book(
                keys=[
                    keys.busy(booking.provider_id),
                    keys.booking(booking.booking_id),
                    keys.idempotency("book", idempotency_key),
                    keys.bookings(),
                    keys.phone(booking.patient.phone),
                    keys.day(booking.start.date()),
                    keys.outbox(),
                ],
                args=[
                    int(booking.start.timestamp()),
                    int(booking.end.timestamp()),
                    booking.booking_id,
                    fingerprint,
                    self._idempotency_ttl,
                    _document(booking),
                    _iso(booking.updated_at),
                    refusal.value if refusal else "",
                    change_channel(self._prefix, booking.clinic_id),
                    *_event(EventType.BOOKING_CREATED, booking, booking.updated_at),
                ],
            ),
        )
        self._changed(booking.clinic_id)
        return await self._write_result(booking, WriteOutcome(outcome), booking_id)

    async def reschedule_booking(
        self,
        old: Booking,
        new: Booking,
        *,
        idempotency_key: str | None,
        fingerprint: str,
        refusal: Refusal | None,
    ) -> BookingWrite:
        keys = self._keys(old.clinic_id)
        outcome, new_booking_id = cast(
            "list[str]",
            await self._reschedule(
                keys=[
                    keys.booking(old.booking_id),
                    keys.busy(old.provider_id),
                    keys.busy(new.provider_id),
                    keys.booking(new.booking_id),
                    keys.idempotency("reschedule", idempotency_key or ""),
                    keys.bookings(),
                    keys.phone(new.patient.phone),
                    keys.day(new.start.date()),
                    keys.outbox(),
                ],
                args=[
                    int(new.start.timestamp()),
                    int(new.end.timestamp()),
                    new.booking_id,
                    fingerprint if idempotency_key else "",
                    self._idempotency_ttl,
                    _document(new),
                    _iso(new.updated_at),
                    refusal.value if refusal else "",
                    change_channel(self._prefix, old.clinic_id),
                    *_event(EventType.BOOKING_RESCHEDULED, new, new.updated_at),
                ],
            ),
        )
        self._changed(old.clinic_id)
        return await self._write_result(new, WriteOutcome(outcome), new_booking_id)

    async def _write_result(
        self, attempted: Booking, outcome: WriteOutcome, booking_id: str
    ) -> BookingWrite:
        if outcome in (WriteOutcome.CREATED, WriteOutcome.RESCHEDULED):
            return BookingWrite(outcome, attempted)
        if outcome in (WriteOutcome.REPLAYED, WriteOutcome.KEY_REUSED) or (
            outcome is WriteOutcome.CONFLICT and booking_id
        ):
            # a conflict names the booking holding exactly the same interval, if one does
            return BookingWrite(outcome, await self.get_booking(attempted.clinic_id, booking_id))
        return BookingWrite(outcome)

    async def cancel_booking(
        self, booking: Booking, *, reason: str | None, now: datetime
    ) -> BookingWrite:
        keys = self._keys(booking.clinic_id)
        cancelled = booking.model_copy(
            update={
                "status": BookingStatus.CANCELLED,
                "cancelled_at": now,
                "updated_at": now,
                "cancel_reason": reason,
            }
        )
        (outcome,) = cast(
            "list[str]",
            await self._cancel(
                keys=[
                    keys.booking(booking.booking_id),
                    keys.busy(booking.provider_id),
                    keys.outbox(),
                ],
                args=[
                    _iso(now),
                    reason or "",
                    change_channel(self._prefix, booking.clinic_id),
                    *_event(EventType.BOOKING_CANCELLED, cancelled, now),
                ],
            ),
        )
        self._changed(booking.clinic_id)
        current = await self.get_booking(booking.clinic_id, booking.booking_id)
        return BookingWrite(WriteOutcome(outcome), current)

    async def get_booking(self, clinic_id: str, booking_id: str) -> Booking | None:
        fields = cast(
            "dict[str, str]",
            await self._redis.hgetall(self._keys(clinic_id).booking(booking_id)),  # type: ignore[misc]
        )
        return _booking_from_hash(fields) if fields else None

    async def list_bookings(
        self,
        clinic_id: str,
        *,
        phone: str | None,
        day: date | None,
        status: BookingStatus | None,
        limit: int,
    ) -> list[Booking]:
        """Bookings in appointment-time order, from the narrowest index that applies."""
        keys = self._keys(clinic_id)
        index = keys.phone(phone) if phone else keys.day(day) if day else keys.bookings()
        found: list[Booking] = []
        async for fields in walk_index(self._redis, index, keys.booking):
            booking = _booking_from_hash(fields)
            if day and booking.start.date() != day:
                continue
            if status and booking.status is not status:
                continue
            found.append(booking)
            if len(found) >= limit:
                break
        return found

    # -- callbacks ----------------------------------------------------------------------

    async def create_callback(self, callback: Callback) -> None:
        keys = self._keys(callback.clinic_id)
        await self._create_callback(
            keys=[keys.callback(callback.callback_id), keys.callbacks(), keys.outbox()],
            args=[
                callback.model_dump_json(exclude={"status", "updated_at", "resolved_at"}),
                callback.status.value,
                _iso(callback.updated_at),
                callback.created_at.timestamp(),
                callback.callback_id,
                *_event(EventType.CALLBACK_CREATED, callback, callback.created_at),
            ],
        )

    async def get_callback(self, clinic_id: str, callback_id: str) -> Callback | None:
        fields = cast(
            "dict[str, str]",
            await self._redis.hgetall(self._keys(clinic_id).callback(callback_id)),  # type: ignore[misc]
        )
        return _callback_from_hash(fields) if fields else None

    async def list_callbacks(
        self, clinic_id: str, *, status: CallbackStatus | None, limit: int
    ) -> list[Callback]:
        keys = self._keys(clinic_id)
        found: list[Callback] = []
        async for fields in walk_index(self._redis, keys.callbacks(), keys.callback):
            callback = _callback_from_hash(fields)
            if status and callback.status is not status:
                continue
            found.append(callback)
            if len(found) >= limit:
                break
        return found

    async def resolve_callback(
        self, clinic_id: str, callback_id: str, *, now: datetime
    ) -> Callback | None:
        current = await self.get_callback(clinic_id, callback_id)
        if current is None:
            return None
        resolved = current.model_copy(
            update={"status": CallbackStatus.RESOLVED, "resolved_at": now, "updated_at": now}
        )
        keys = self._keys(clinic_id)
        (outcome,) = cast(
            "list[str]",
            await self._resolve_callback(
                keys=[keys.callback(callback_id), keys.outbox()],
                args=[_iso(now), *_event(EventType.CALLBACK_RESOLVED, resolved, now)],
            ),
        )
        if outcome == WriteOutcome.NOT_FOUND:
            return None
        return await self.get_callback(clinic_id, callback_id)


async def walk_index(
    redis: Redis,
    index_key: str,
    record_key: Callable[[str], str],
    *,
    newest_first: bool = False,
) -> AsyncIterator[dict[str, str]]:
    """Hashes of the ids in a sorted-set index, in score order, a page at a time.

    Ids whose hash is gone (expired) are skipped.
    """
    offset = 0
    while True:
        ids = cast(
            "list[str]",
            await redis.zrange(index_key, offset, offset + _PAGE - 1, desc=newest_first),
        )
        if not ids:
            return
        async with redis.pipeline(transaction=False) as pipe:
            for record_id in ids:
                pipe.hgetall(record_key(record_id))
            pages = cast("list[dict[str, str]]", await pipe.execute())
        for fields in pages:
            if fields:
                yield fields
        offset += _PAGE


def _member_interval(member: str) -> Interval:
    start, end, _ = member.split(":", 2)
    return int(start), int(end)


def _document(booking: Booking) -> str:
    return booking.model_dump_json(include=set(IMMUTABLE_BOOKING_FIELDS))


def _booking_from_hash(fields: dict[str, str]) -> Booking:
    record: dict[str, Any] = json.loads(fields["doc"])
    for name in ("status", "updated_at", "cancelled_at", "cancel_reason", "rescheduled_to"):
        if name in fields:
            record[name] = fields[name]
    return Booking.model_validate(record)


def _callback_from_hash(fields: dict[str, str]) -> Callback:
    record: dict[str, Any] = json.loads(fields["doc"])
    for name in ("status", "updated_at", "resolved_at"):
        if name in fields:
            record[name] = fields[name]
    return Callback.model_validate(record)
