"""Call records: store the worker's end-of-call report once per call, and read them back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime

from scheduling_api.domain.calls import (
    CallOutcome,
    CallRecord,
    CallRecordIn,
    call_record,
    local_day,
)
from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.patients import normalize_phone
from scheduling_api.errors import invalid_fields, not_found
from scheduling_api.metrics import CALL_RECORDS
from scheduling_api.store.call_store import CallStore, RecordWrite

logger = logging.getLogger(__name__)


class CallLog:
    def __init__(self, store: CallStore, *, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock

    async def record(self, clinic: Clinic, report: CallRecordIn) -> RecordWrite:
        """Store the report as the call's record; a repeat answers the first one stored."""
        policy = clinic.call_records
        written = await self._store.record_call(
            call_record(clinic.clinic_id, report, keep_transcript=policy.store_transcripts),
            day=local_day(report.started_at, clinic.tz),
            record_retention_days=policy.record_retention_days,
            transcript_retention_days=policy.transcript_retention_days,
            now=self._clock(),
        )
        CALL_RECORDS.labels("created" if written.created else "replayed").inc()
        logger.info(
            "call recorded" if written.created else "call record replayed",
            extra={
                "clinic_id": clinic.clinic_id,
                "call_id": report.call_id,
                "outcome": written.record.outcome.value,
            },
        )
        return written

    async def get(self, clinic: Clinic, call_id: str) -> CallRecord:
        record = await self._store.get_call(clinic.clinic_id, call_id)
        if record is None:
            raise not_found("call", call_id)
        return record

    async def list(
        self,
        clinic: Clinic,
        *,
        day: date | None,
        outcome: CallOutcome | None,
        phone: str | None,
        limit: int,
    ) -> list[CallRecord]:
        normalized = None
        if phone is not None:
            try:
                normalized = normalize_phone(phone, clinic.address.country)
            except ValueError as exc:
                raise invalid_fields(("phone", str(exc))) from exc
        return await self._store.list_calls(
            clinic.clinic_id,
            day=day,
            outcome=outcome,
            phone=normalized,
            limit=limit,
            timezone=clinic.tz,
        )
