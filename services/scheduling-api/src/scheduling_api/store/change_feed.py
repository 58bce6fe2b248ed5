"""Which clinics' appointment books changed, so availability can cache bookings safely.

Every write script PUBLISHes on its clinic's channel in the same atomic step as the
write. Each process follows those channels and keeps a generation per clinic; a cached
read is used only while the generation it was read under is still current. While the
subscription is down (or re-establishing) the feed is not live and nothing is cached, and
every (re)subscription starts a new epoch that invalidates everything read before it.

What remains is the delivery delay of a message (well under a millisecond on one host):
for that long another process may list a slot that was just taken. Availability is
advisory — the booking script re-checks atomically and answers 409 with alternatives —
and a time-to-live bounds how long any entry is trusted even if a message were lost.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

RECONNECT_DELAY_SECONDS = 1.0
POLL_SECONDS = 1.0

Generation = tuple[int, int]
"""(epoch of the subscription, count of changes seen for the clinic)."""


def change_channel(key_prefix: str, clinic_id: str) -> str:
    return f"{key_prefix}:{{{clinic_id}}}:changes"


class ChangeFeed:
    def __init__(self, client: Redis, *, key_prefix: str) -> None:
        self._client = client
        self._pattern = change_channel(key_prefix, "*")  # braces are literal in globs
        self._live = False
        self._epoch = 0
        self._changes: dict[str, int] = {}

    async def close(self) -> None:
        await self._client.aclose()

    @property
    def live(self) -> bool:
        """Whether the subscription is up (only then may reads be cached)."""
        return self._live

    def generation(self, clinic_id: str) -> Generation | None:
        """The clinic's current generation, or None when nothing may be cached."""
        if not self._live:
            return None
        return self._epoch, self._changes.get(clinic_id, 0)

    def changed(self, clinic_id: str) -> None:
        """Note a change (also called by this process right after its own writes)."""
        self._changes[clinic_id] = self._changes.get(clinic_id, 0) + 1

    async def follow(self) -> None:
        """Follow the change channels until cancelled, resubscribing after any failure."""
        while True:
            pubsub = self._client.pubsub()
            try:
                await pubsub.psubscribe(self._pattern)
                while True:
                    message = await pubsub.get_message(timeout=POLL_SECONDS)
                    if message is not None:
                        self._handle(message)
            except (RedisError, OSError) as exc:
                if self._live:
                    logger.warning(
                        "change feed lost; availability reads go to redis until it is back",
                        extra={"error_type": type(exc).__name__},
                    )
            finally:
                self._live = False
                await pubsub.aclose()  # type: ignore[no-untyped-call]
            await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    def _handle(self, message: dict[str, str]) -> None:
        if message["type"] == "psubscribe":
            self._epoch += 1
            self._live = True
            logger.info("change feed following", extra={"pattern": self._pattern})
        elif message["type"] == "pmessage":
            channel = message["channel"]
            self.changed(channel[channel.find("{") + 1 : channel.rfind("}")])
