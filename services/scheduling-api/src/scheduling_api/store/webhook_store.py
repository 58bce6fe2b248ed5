"""Redis adapter for webhook endpoints, their delivery progress and delivery records.

Layout (`c` = clinic id, `e` = endpoint id, same prefix and hash tag as the book):
- `sched:{c}:webhook:<e>` hash: url, events (comma-separated), description, secret,
  seeded, created_at; `sched:{c}:webhooks` sorted set of endpoint ids by creation
- consumer group `webhook:<e>` on the outbox stream `sched:{c}:outbox`, created at `$`
  (an endpoint gets the events after its creation); its pending entry is the event being
  retried, so delivery is in stream order per endpoint
- `sched:{c}:webhook:<e>:lease` the dispatcher delivering to the endpoint now (SET NX PX)
- `sched:{c}:webhook:<e>:retry` hash: when the head event may be tried again
- `sched:{c}:webhook:<e>:redeliver` list of delivery ids asked for again through the API
- `sched:{c}:delivery:<event id>.<e>` hash: the delivery record and its payload
- `sched:{c}:deliveries:<status>` sorted sets of delivery ids by last change
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from scheduling_api.domain.webhooks import Delivery, DeliveryStatus, Endpoint, EventType
from scheduling_api.store.outbox import outbox_key

DELIVERED_KEEP_SECONDS = 7 * 24 * 3600
DELIVERED_KEEP_COUNT = 1_000
CONSUMER = "dispatcher"
"""Every lease holder reads as the same consumer, so a new holder sees the pending head."""


@dataclass(frozen=True, slots=True)
class StoredEndpoint:
    endpoint: Endpoint
    secret: str


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """An event due for one endpoint: from the stream, or asked for again."""

    event_id: str
    event_type: str
    occurred_at: datetime
    data: str
    entry_id: str | None
    """The stream entry (acknowledged once done); None for a redelivery."""
    first_due: datetime
    """When its first attempt was due: when the outbox got it, or when redelivery was
    asked; the retry horizon counts from here."""


@dataclass(frozen=True, slots=True)
class RetryState:
    item: str
    attempts: int
    next_at: float


def delivery_id(event_id: str, endpoint_id: str) -> str:
    return f"{event_id}.{endpoint_id}"


def group_name(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}"


def _lua(name: str) -> str:
    return resources.files("scheduling_api.store").joinpath(f"lua/{name}.lua").read_text()


class WebhookKeys:
    def __init__(self, prefix: str, clinic_id: str) -> None:
        self.base = f"{prefix}:{{{clinic_id}}}"
        self.outbox = outbox_key(prefix, clinic_id)

    def endpoint(self, endpoint_id: str) -> str:
        return f"{self.base}:webhook:{endpoint_id}"

    def endpoints(self) -> str:
        return f"{self.base}:webhooks"

    def lease(self, endpoint_id: str) -> str:
        return f"{self.base}:webhook:{endpoint_id}:lease"

    def retry(self, endpoint_id: str) -> str:
        return f"{self.base}:webhook:{endpoint_id}:retry"

    def redeliver(self, endpoint_id: str) -> str:
        return f"{self.base}:webhook:{endpoint_id}:redeliver"

    def delivery(self, delivery_id: str) -> str:
        return f"{self.base}:delivery:{delivery_id}"

    def deliveries(self, status: DeliveryStatus) -> str:
        return f"{self.base}:deliveries:{status.value}"


class WebhookStore:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = key_prefix
        self._save_endpoint = redis.register_script(_lua("save_endpoint"))
        self._delete_endpoint = redis.register_script(_lua("delete_endpoint"))
        self._release = redis.register_script(_lua("release_lease"))
        self._renew = redis.register_script(_lua("renew_lease"))

    def keys(self, clinic_id: str) -> WebhookKeys:
        return WebhookKeys(self._prefix, clinic_id)

    # -- endpoints ------------------------------------------------------------------------

    async def save_endpoint(self, endpoint: Endpoint, secret: str) -> None:
        """Create or update an endpoint; its consumer group is created once, at `$`."""
        keys = self.keys(endpoint.clinic_id)
        await self._save_endpoint(
            keys=[keys.endpoint(endpoint.endpoint_id), keys.endpoints(), keys.outbox],
            args=[
                endpoint.url,
                ",".join(endpoint.events),
                endpoint.description or "",
                secret,
                "1" if endpoint.seeded else "",
                endpoint.created_at.isoformat(),
                endpoint.endpoint_id,
                group_name(endpoint.endpoint_id),
            ],
        )

    async def get_endpoint(self, clinic_id: str, endpoint_id: str) -> StoredEndpoint | None:
        fields = cast(
            "dict[str, str]",
            await self._redis.hgetall(self.keys(clinic_id).endpoint(endpoint_id)),  # type: ignore[misc]
        )
        return _endpoint(clinic_id, endpoint_id, fields) if fields else None

    async def list_endpoints(self, clinic_id: str) -> list[StoredEndpoint]:
        keys = self.keys(clinic_id)
        ids = cast("list[str]", await self._redis.zrange(keys.endpoints(), 0, -1))
        found = []
        for endpoint_id in ids:
            stored = await self.get_endpoint(clinic_id, endpoint_id)
            if stored is not None:
                found.append(stored)
        return found

    async def delete_endpoint(self, clinic_id: str, endpoint_id: str) -> bool:
        keys = self.keys(clinic_id)
        (deleted,) = cast(
            "list[int]",
            await self._delete_endpoint(
                keys=[
                    keys.endpoint(endpoint_id),
                    keys.endpoints(),
                    keys.outbox,
                    keys.retry(endpoint_id),
                    keys.redeliver(endpoint_id),
                ],
                args=[endpoint_id, group_name(endpoint_id)],
            ),
        )
        return bool(deleted)

    # -- the dispatcher's progress ----------------------------------------------------------

    async def take_lease(self, clinic_id: str, endpoint_id: str, owner: str, ms: int) -> bool:
        key = self.keys(clinic_id).lease(endpoint_id)
        return bool(await self._redis.set(key, owner, nx=True, px=ms))

    async def renew_lease(self, clinic_id: str, endpoint_id: str, owner: str, ms: int) -> bool:
        """Whether the lease is still ours (and now extended)."""
        key = self.keys(clinic_id).lease(endpoint_id)
        return bool(await self._renew(keys=[key], args=[owner, ms]))

    async def release_lease(self, clinic_id: str, endpoint_id: str, owner: str) -> None:
        await self._release(keys=[self.keys(clinic_id).lease(endpoint_id)], args=[owner])

    async def retry_state(self, clinic_id: str, endpoint_id: str) -> RetryState | None:
        fields = cast(
            "dict[str, str]",
            await self._redis.hgetall(self.keys(clinic_id).retry(endpoint_id)),  # type: ignore[misc]
        )
        if not fields:
            return None
        return RetryState(fields["item"], int(fields["attempts"]), float(fields["next_at"]))

    async def next_event(self, clinic_id: str, endpoint_id: str) -> OutboxEvent | None:
        """The endpoint's head: a redelivery asked for, else the pending stream entry
        (being retried), else the next new one."""
        keys = self.keys(clinic_id)
        wanted = cast("str | None", await self._redis.lindex(keys.redeliver(endpoint_id), 0))  # type: ignore[misc]
        if wanted is not None:
            fields = cast("dict[str, str]", await self._redis.hgetall(keys.delivery(wanted)))  # type: ignore[misc]
            if not fields:
                await self._redis.lpop(keys.redeliver(endpoint_id))  # type: ignore[misc]
                return await self.next_event(clinic_id, endpoint_id)
            return OutboxEvent(
                event_id=fields["event_id"],
                event_type=fields["event_type"],
                occurred_at=datetime.fromisoformat(fields["occurred_at"]),
                data=fields["data"],
                entry_id=None,
                first_due=datetime.fromisoformat(fields["redeliver_at"]),
            )
        for position in ("0", ">"):
            reply = await self._redis.xreadgroup(
                group_name(endpoint_id), CONSUMER, {keys.outbox: position}, count=1
            )
            entries = reply[0][1] if reply else []
            if entries:
                entry_id, fields = entries[0]
                return OutboxEvent(
                    event_id=fields["id"],
                    event_type=fields["type"],
                    occurred_at=datetime.fromisoformat(fields["at"]),
                    data=fields["data"],
                    entry_id=entry_id,
                    first_due=entry_time(entry_id),
                )
        return None

    async def skip(self, clinic_id: str, endpoint_id: str, event: OutboxEvent) -> None:
        """Done with an event the endpoint does not subscribe to."""
        keys = self.keys(clinic_id)
        if event.entry_id is not None:
            await self._redis.xack(keys.outbox, group_name(endpoint_id), event.entry_id)
        else:
            await self._redis.lpop(keys.redeliver(endpoint_id))  # type: ignore[misc]

    async def finish(
        self,
        clinic_id: str,
        endpoint_id: str,
        event: OutboxEvent,
        *,
        status: DeliveryStatus,
        attempts: int,
        status_code: int | None,
        error: str | None,
        now: datetime,
        next_at: float | None = None,
    ) -> None:
        """Record an attempt's outcome: pending (retry at `next_at`), delivered or failed
        (dead letter); the last two move the endpoint past the event."""
        keys = self.keys(clinic_id)
        the_id = delivery_id(event.event_id, endpoint_id)
        score = now.timestamp()
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.delivery(the_id),
                mapping={
                    "delivery_id": the_id,
                    "endpoint_id": endpoint_id,
                    "event_id": event.event_id,
                    "event_type": event.event_type,
                    "status": status.value,
                    "attempts": attempts,
                    "last_status_code": "" if status_code is None else status_code,
                    "last_error": error or "",
                    "occurred_at": event.occurred_at.isoformat(),
                    "updated_at": now.isoformat(),
                    "data": event.data,
                },
            )
            for other in DeliveryStatus:
                if other is not status:
                    pipe.zrem(keys.deliveries(other), the_id)
            pipe.zadd(keys.deliveries(status), {the_id: score})
            if status is DeliveryStatus.PENDING:
                pipe.persist(keys.delivery(the_id))
                pipe.hset(
                    keys.retry(endpoint_id),
                    mapping={"item": the_id, "attempts": attempts, "next_at": next_at or 0},
                )
            else:
                pipe.delete(keys.retry(endpoint_id))
                if event.entry_id is not None:
                    pipe.xack(keys.outbox, group_name(endpoint_id), event.entry_id)
                else:
                    pipe.lpop(keys.redeliver(endpoint_id))
            if status is DeliveryStatus.DELIVERED:
                pipe.expire(keys.delivery(the_id), DELIVERED_KEEP_SECONDS)
                pipe.zremrangebyscore(
                    keys.deliveries(status), "-inf", score - DELIVERED_KEEP_SECONDS
                )
                pipe.zremrangebyrank(keys.deliveries(status), 0, -DELIVERED_KEEP_COUNT - 1)
            await pipe.execute()

    # -- delivery records ---------------------------------------------------------------

    async def list_deliveries(
        self, clinic_id: str, *, status: DeliveryStatus, limit: int
    ) -> list[Delivery]:
        keys = self.keys(clinic_id)
        ids = cast(
            "list[str]", await self._redis.zrange(keys.deliveries(status), 0, limit - 1, desc=True)
        )
        found = []
        for the_id in ids:
            delivery = await self.get_delivery(clinic_id, the_id)
            if delivery is not None:
                found.append(delivery)
        return found

    async def get_delivery(self, clinic_id: str, the_id: str) -> Delivery | None:
        fields = cast(
            "dict[str, str]",
            await self._redis.hgetall(self.keys(clinic_id).delivery(the_id)),  # type: ignore[misc]
        )
        return _delivery(fields) if fields else None

    async def ask_redelivery(self, clinic_id: str, the_id: str, now: datetime) -> None:
        """Queue a delivery again (same event, same webhook-id) with a fresh horizon."""
        keys = self.keys(clinic_id)
        endpoint_id = the_id.split(".", 1)[1]
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(
                keys.delivery(the_id),
                mapping={
                    "status": DeliveryStatus.PENDING.value,
                    "attempts": 0,
                    "redeliver_at": now.isoformat(),
                    "updated_at": now.isoformat(),
                },
            )
            pipe.persist(keys.delivery(the_id))
            for status in DeliveryStatus:
                pipe.zrem(keys.deliveries(status), the_id)
            pipe.zadd(keys.deliveries(DeliveryStatus.PENDING), {the_id: now.timestamp()})
            pipe.rpush(keys.redeliver(endpoint_id), the_id)
            await pipe.execute()

    # -- backlog, for metrics and trimming ------------------------------------------------

    async def oldest_undelivered(self, clinic_id: str, endpoint_ids: list[str]) -> float | None:
        """Epoch seconds of the oldest outbox entry some endpoint has not finished with."""
        keys = self.keys(clinic_id)
        oldest: float | None = None
        for endpoint_id in endpoint_ids:
            entry = await self._first_unfinished(keys, endpoint_id)
            if entry is not None:
                moment = int(entry.split("-", 1)[0]) / 1000
                oldest = moment if oldest is None else min(oldest, moment)
        return oldest

    async def _first_unfinished(self, keys: WebhookKeys, endpoint_id: str) -> str | None:
        group = group_name(endpoint_id)
        try:
            pending = cast("dict[str, Any]", await self._redis.xpending(keys.outbox, group))
        except ResponseError:  # the group is gone: the endpoint was deleted meanwhile
            return None
        if pending.get("pending"):
            return str(pending["min"])
        groups = cast("list[dict[str, Any]]", await self._redis.xinfo_groups(keys.outbox))
        last = next((g["last-delivered-id"] for g in groups if g["name"] == group), None)
        if last is None:
            return None
        after = await self._redis.xrange(keys.outbox, min=f"({last}", count=1)
        return str(after[0][0]) if after else None

    async def trim_outbox(self, clinic_id: str, keep_after: float) -> None:
        """Drop entries every endpoint is done with and older than `keep_after`."""
        await self._redis.xtrim(
            self.keys(clinic_id).outbox, minid=f"{int(keep_after * 1000)}-0", approximate=False
        )

    async def dead_letters(self, clinic_id: str) -> int:
        return int(await self._redis.zcard(self.keys(clinic_id).deliveries(DeliveryStatus.FAILED)))


def entry_time(entry_id: str) -> datetime:
    """When Redis added a stream entry (its id is milliseconds since the epoch)."""
    return datetime.fromtimestamp(int(entry_id.split("-", 1)[0]) / 1000, UTC)


def _endpoint(clinic_id: str, endpoint_id: str, fields: dict[str, str]) -> StoredEndpoint:
    endpoint = Endpoint(
        endpoint_id=endpoint_id,
        clinic_id=clinic_id,
        url=fields["url"],
        events=[EventType(name) for name in fields["events"].split(",") if name],
        description=fields.get("description") or None,
        seeded=bool(fields.get("seeded")),
        created_at=datetime.fromisoformat(fields["created_at"]),
    )
    return StoredEndpoint(endpoint, fields["secret"])


def _delivery(fields: dict[str, str]) -> Delivery:
    record: dict[str, Any] = {
        name: fields[name] for name in Delivery.model_fields if fields.get(name, "") != ""
    }
    return Delivery.model_validate(record)


def event_body(event: OutboxEvent) -> bytes:
    """The delivered JSON: the Standard Webhooks envelope {type, timestamp, data}."""
    return (
        '{"type":'
        + json.dumps(event.event_type)
        + ',"timestamp":'
        + json.dumps(event.occurred_at.isoformat())
        + ',"data":'
        + event.data
        + "}"
    ).encode()
