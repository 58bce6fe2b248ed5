"""The post-call summary: one short, non-streaming chat completion after the call ended.

It goes to the same OpenAI-compatible server and model as the call, with a JSON schema
response format, so the answer parses into the record's structured fields. Any failure
(timeout, HTTP error, malformed JSON) yields None: the record is then stored without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx

from .call_report import CallLedger, CallSummary, Outcome, transcript_items

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"
SUMMARY_SCHEMA_NAME = "call_summary"
MAX_SUMMARY_CHARACTERS = 600
MAX_REASON_CHARACTERS = 80
PATIENT_STATUSES = ("new", "existing", "unknown")
URGENCIES = ("routine", "soon", "urgent", "unknown")

SUMMARY_INSTRUCTIONS = (
    "You write the post-call summary for a dental clinic's front desk. You get the outcome "
    "of a phone call with the clinic's voice receptionist and its transcript. Answer with "
    "JSON only: `summary` (two or three plain sentences for the staff: who called, why, and "
    "what was done or still needs a person), `reason` (the reason for calling in a few "
    "words, e.g. cleaning, toothache, cancel appointment), `patient_status` (new, existing "
    "or unknown), `urgency` (routine, soon, urgent or unknown). Use only what the "
    "transcript says."
)

_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["summary", "reason", "patient_status", "urgency"],
    "properties": {
        "summary": {"type": "string"},
        "reason": {"type": "string"},
        "patient_status": {"type": "string", "enum": list(PATIENT_STATUSES)},
        "urgency": {"type": "string", "enum": list(URGENCIES)},
    },
}


def summary_request(model: str, outcome: Outcome, ledger: CallLedger) -> dict[str, Any]:
    """The chat completion request for one call's summary."""
    call = {
        "outcome": outcome,
        "transcript": [
            {"role": item["role"], "text": item["text"]} for item in transcript_items(ledger)
        ],
    }
    return {
        "model": model,
        "stream": False,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": SUMMARY_INSTRUCTIONS},
            {"role": "user", "content": json.dumps(call, ensure_ascii=False)},
        ],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": SUMMARY_SCHEMA_NAME, "strict": True, "schema": _SCHEMA},
        },
    }


def parse_summary(completion: Any) -> CallSummary | None:
    """The summary in a chat completion response body, or None when it is not one."""
    try:
        content = completion["choices"][0]["message"]["content"]
        fields = json.loads(content)
    except (KeyError, IndexError, TypeError, json.JSONDecodeError):
        return None
    if not isinstance(fields, dict):
        return None
    summary = fields.get("summary")
    if not isinstance(summary, str) or not summary.strip():
        return None
    reason = fields.get("reason")
    status = fields.get("patient_status")
    urgency = fields.get("urgency")
    return CallSummary(
        summary=" ".join(summary.split())[:MAX_SUMMARY_CHARACTERS],
        reason=" ".join(reason.split())[:MAX_REASON_CHARACTERS] or None
        if isinstance(reason, str)
        else None,
        patient_status=status if status in PATIENT_STATUSES else "unknown",
        urgency=urgency if urgency in URGENCIES else "unknown",
    )


class CallSummarizer:
    """Asks the LLM for a call's summary within `timeout_seconds` in all; never raises."""

    def __init__(
        self,
        *,
        base_url: str | None,
        api_key: str,
        model: str,
        timeout_seconds: float,
    ) -> None:
        self._url = f"{(base_url or OPENAI_BASE_URL).rstrip('/')}/chat/completions"
        self._api_key = api_key
        self._model = model
        self._timeout_seconds = timeout_seconds

    async def summarise(self, outcome: Outcome, ledger: CallLedger) -> CallSummary | None:
        if not ledger.transcript:
            return None  # nothing was said: nothing to summarise
        try:
            async with (
                asyncio.timeout(self._timeout_seconds),
                httpx.AsyncClient(timeout=self._timeout_seconds) as http,
            ):
                response = await http.post(
                    self._url,
                    json=summary_request(self._model, outcome, ledger),
                    headers={"Authorization": f"Bearer {self._api_key}"},
                )
            response.raise_for_status()
            summary = parse_summary(response.json())
        except (httpx.HTTPError, ValueError, TimeoutError) as exc:
            logger.warning("call summary failed", extra={"error": type(exc).__name__})
            return None
        if summary is None:
            logger.warning("call summary was not the JSON asked for")
        return summary
