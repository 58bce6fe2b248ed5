"""Callback requests: a caller who wants a person at the clinic to phone them back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.patients import clean_name, normalize_phone, optional_text
from scheduling_api.domain.records import DEFAULT_SOURCE, Callback, CallbackStatus, new_id
from scheduling_api.errors import invalid_fields, not_found
from scheduling_api.metrics import CALLBACKS
from scheduling_api.store.redis_store import RedisStore

logger = logging.getLogger(__name__)


class Callbacks:
    def __init__(self, *, store: RedisStore, clock: Callable[[], datetime]) -> None:
        self.store = store
        self._clock = clock

    async def request(
        self,
        clinic: Clinic,
        *,
        name: str,
        phone: str,
        reason: str | None,
        preferred_time: str | None,
        source: str | None,
    ) -> Callback:
        problems: list[tuple[str, str]] = []
        try:
            name = clean_name(name)
        except ValueError as exc:
            problems.append(("name", str(exc)))
        try:
            phone = normalize_phone(phone, clinic.address.country)
        except ValueError as exc:
            problems.append(("phone", str(exc)))
        if problems:
            raise invalid_fields(*problems)
        now = self._clock()
        callback = Callback(
            callback_id=new_id("cb"),
            clinic_id=clinic.clinic_id,
            status=CallbackStatus.OPEN,
            name=name,
            phone=phone,
            reason=optional_text(reason),
            preferred_time=optional_text(preferred_time),
            source=optional_text(source) or DEFAULT_SOURCE,
            created_at=now,
            updated_at=now,
        )
        await self.store.create_callback(callback)
        CALLBACKS.inc()
        logger.info(
            "callback requested",
            extra={"clinic_id": clinic.clinic_id, "callback_id": callback.callback_id},
        )
        return callback

    async def find(
        self, clinic: Clinic, *, status: CallbackStatus | None, limit: int
    ) -> list[Callback]:
        return await self.store.list_callbacks(clinic.clinic_id, status=status, limit=limit)

    async def resolve(self, clinic: Clinic, callback_id: str) -> Callback:
        callback = await self.store.resolve_callback(
            clinic.clinic_id, callback_id, now=self._clock()
        )
        if callback is None:
            raise not_found("callback", callback_id)
        return callback
