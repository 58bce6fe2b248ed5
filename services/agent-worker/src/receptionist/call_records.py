"""Stores a call record through the scheduling API, after the call, with retries
(`file_call_record`: the summary first, if it comes in time, then the record).

`POST /v1/clinics/{clinic_id}/calls` is idempotent by `call_id` (a repeat answers 200 with
the record already stored), so every failure that may heal is retried: timeouts, refused
connections, 429 and 5xx, with doubling backoff up to `MAX_BACKOFF_SECONDS`. A 4xx other
than 429 is a bug in the record and is not retried. Only ids and statuses are logged.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from .call_report import CallLedger, call_record, outcome
from .call_summary import CallSummarizer
from .config import Settings
from .front_desk import utc_now

logger = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_BACKOFF_SECONDS = 8.0


class CallRecordSender:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_seconds: float,
        max_attempts: int,
        backoff_seconds: float,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._token = token
        self._timeout_seconds = timeout_seconds
        self._max_attempts = max_attempts
        self._backoff_seconds = backoff_seconds

    async def send(self, clinic_id: str, record: dict[str, Any]) -> bool:
        """True once the API holds the record (stored now, or by an earlier attempt)."""
        call_id = record["call_id"]
        async with httpx.AsyncClient(
            base_url=self._base_url,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=self._timeout_seconds,
        ) as http:
            for attempt in range(1, self._max_attempts + 1):
                failure: str
                try:
                    response = await http.post(f"/v1/clinics/{clinic_id}/calls", json=record)
                except httpx.TransportError as exc:
                    failure = type(exc).__name__
                else:
                    if response.status_code in (200, 201):
                        logger.info(
                            "call record stored",
                            extra={
                                "call_id": call_id,
                                "outcome": record["outcome"],
                                "attempts": attempt,
                                "already_stored": response.status_code == 200,
                            },
                        )
                        return True
                    if response.status_code not in RETRIED_STATUSES:
                        logger.error(
                            "call record refused by the scheduling API",
                            extra={"call_id": call_id, "status": response.status_code},
                        )
                        return False
                    failure = f"HTTP {response.status_code}"
                if attempt < self._max_attempts:
                    await asyncio.sleep(
                        min(self._backoff_seconds * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
                    )
        logger.error(
            "call record not stored: the scheduling API stayed unreachable",
            extra={"call_id": call_id, "attempts": self._max_attempts, "error": failure},
        )
        return False


async def file_call_record(
    settings: Settings,
    ledger: CallLedger,
    *,
    clinic_id: str,
    call_id: str,
    turn_seconds: list[float],
) -> None:
    """After the call: the summary (if it comes in time), then the record, stored with
    retries. Runs once the caller is gone, so nothing here can slow the call."""
    ended_at = utc_now()
    summary = None
    if settings.call_summary_enabled:
        summary = await CallSummarizer(
            base_url=settings.openai_base_url,
            api_key=settings.openai_api_key.get_secret_value(),
            model=settings.openai_model,
            timeout_seconds=settings.call_summary_timeout_seconds,
        ).summarise(outcome(ledger), ledger)
    record = call_record(
        ledger, call_id=call_id, ended_at=ended_at, turn_seconds=turn_seconds, summary=summary
    )
    await CallRecordSender(
        settings.scheduling_api_url,
        settings.scheduling_api_token.get_secret_value(),
        timeout_seconds=settings.call_record_timeout_seconds,
        max_attempts=settings.call_record_max_attempts,
        backoff_seconds=settings.call_record_backoff_seconds,
    ).send(clinic_id, record)
