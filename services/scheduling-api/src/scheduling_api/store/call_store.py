"""Redis adapter for call records (same prefix and `{clinic_id}` hash tag as the book).

Layout (`c` = clinic id, `id` = call id):
- `sched:{c}:call:<id>` hash, field `doc`: the record as JSON without its transcript;
  expires after the clinic's `record_retention_days`
- `sched:{c}:call:<id>:transcript` the transcript as JSON, only when the clinic opted
  in; expires after `transcript_retention_days` (expiry is deletion)
- indexes, sorted sets of call ids scored by `started_at` (epoch seconds):
  `sched:{c}:calls`, `sched:{c}:calls:day:<YYYY-MM-DD>` (clinic-local day),
  `sched:{c}:calls:outcome:<outcome>`, `sched:{c}:calls:phone:<e164>`; entries older
  than the record retention are pruned on each write
- the `call.completed` event goes to the clinic's outbox stream in the same script
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from importlib import resources
from typing import cast
from zoneinfo import ZoneInfo

from pydantic import TypeAdapter
from redis.asyncio import Redis

from scheduling_api.domain.calls import CallOutcome, CallRecord, TranscriptLine, local_day
from scheduling_api.store.outbox import new_event_id, outbox_key
from scheduling_api.store.redis_store import walk_index

DAY_SECONDS = 24 * 3600
_TRANSCRIPT = TypeAdapter(list[TranscriptLine])


@dataclass(frozen=True, slots=True)
class RecordWrite:
    created: bool
    """False when the call id was already stored: `record` is the first one."""
    record: CallRecord


class _CallKeys:
    def __init__(self, prefix: str, clinic_id: str) -> None:
        self.base = f"{prefix}:{{{clinic_id}}}"

    def record(self, call_id: str) -> str:
        return f"{self.base}:call:{call_id}"

    def transcript(self, call_id: str) -> str:
        return f"{self.base}:call:{call_id}:transcript"

    def calls(self) -> str:
        return f"{self.base}:calls"

    def day(self, day: date) -> str:
        return f"{self.base}:calls:day:{day.isoformat()}"

    def outcome(self, outcome: CallOutcome) -> str:
        return f"{self.base}:calls:outcome:{outcome.value}"

    def phone(self, phone: str) -> str:
        return f"{self.base}:calls:phone:{phone}"


class CallStore:
    def __init__(self, redis: Redis, *, key_prefix: str) -> None:
        self._redis = redis
        self._prefix = key_prefix
        script = resources.files("scheduling_api.store").joinpath("lua/record_call.lua")
        self._record = redis.register_script(script.read_text())

    def _keys(self, clinic_id: str) -> _CallKeys:
        return _CallKeys(self._prefix, clinic_id)

    async def record_call(
        self,
        record: CallRecord,
        *,
        day: date,
        record_retention_days: int,
        transcript_retention_days: int,
        now: datetime,
    ) -> RecordWrite:
        """Store the record (and its event) unless its call id is already stored."""
        keys = self._keys(record.clinic_id)
        document = record.model_dump_json(exclude={"transcript"})
        transcript = _TRANSCRIPT.dump_json(record.transcript).decode() if record.transcript else ""
        index_keys = [
            keys.record(record.call_id),
            keys.transcript(record.call_id),
            keys.calls(),
            keys.day(day),
            keys.outcome(record.outcome),
            outbox_key(self._prefix, record.clinic_id),
        ]
        if record.caller_phone:
            index_keys.append(keys.phone(record.caller_phone))
        outcome, stored = cast(
            "list[str]",
            await self._record(
                keys=index_keys,
                args=[
                    document,
                    transcript,
                    int(record.started_at.timestamp()),
                    record_retention_days * DAY_SECONDS,
                    transcript_retention_days * DAY_SECONDS,
                    record.call_id,
                    new_event_id(),
                    now.isoformat(),
                    document,
                ],
            ),
        )
        if outcome == "created":
            return RecordWrite(True, record)
        return RecordWrite(False, await self._with_transcript(record.clinic_id, stored))

    async def get_call(self, clinic_id: str, call_id: str) -> CallRecord | None:
        document = cast(
            "str | None",
            await self._redis.hget(self._keys(clinic_id).record(call_id), "doc"),  # type: ignore[misc]
        )
        if document is None:
            return None
        return await self._with_transcript(clinic_id, document)

    async def list_calls(
        self,
        clinic_id: str,
        *,
        day: date | None,
        outcome: CallOutcome | None,
        phone: str | None,
        limit: int,
        timezone: ZoneInfo,
    ) -> list[CallRecord]:
        """Records newest first, from the narrowest index that applies (no transcripts)."""
        keys = self._keys(clinic_id)
        if phone:
            index = keys.phone(phone)
        elif day:
            index = keys.day(day)
        elif outcome:
            index = keys.outcome(outcome)
        else:
            index = keys.calls()
        found: list[CallRecord] = []
        async for fields in walk_index(self._redis, index, keys.record, newest_first=True):
            record = CallRecord.model_validate_json(fields["doc"])
            if outcome and record.outcome is not outcome:
                continue
            if day and local_day(record.started_at, timezone) != day:
                continue
            found.append(record)
            if len(found) >= limit:
                break
        return found

    async def _with_transcript(self, clinic_id: str, document: str) -> CallRecord:
        record = CallRecord.model_validate_json(document)
        transcript = cast(
            "str | None",
            await self._redis.get(self._keys(clinic_id).transcript(record.call_id)),
        )
        if transcript is None:
            return record
        return record.model_copy(update={"transcript": _TRANSCRIPT.validate_json(transcript)})
