"""Logging for the worker: JSON lines in the shape docs/conventions.md sets, patient data
redacted.

The LiveKit CLI builds the root handler inside `cli.run_app` (JSON in `start`, coloured
in `dev`), and job processes forward their records to it. `use_log_shape`, called before
`run_app`, makes the CLI's JSON lines ours from the first one; `install_redaction` adds
one filter to that handler, so every line — ours, the framework's and the plugins', from
any process — is scrubbed of phone numbers, email addresses, secret query values and the
fields that carry names or what the caller said.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from livekit.agents.cli import log as cli_log

SERVICE = "agent-worker"
REDACTED = "[redacted]"

# extra-field names whose values are patient data or free text from the call
_SENSITIVE_KEYS = frozenset(
    {
        "name",
        "patient",
        "patient_name",
        "caller_name",
        "phone",
        "patient_phone",
        "email",
        "date_of_birth",
        "transcript",
        "user_transcript",
        "text",
        "content",
        "arguments",
        "output",
    }
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")
_PHONE = re.compile(r"\+?\d[\d\s().-]{5,}\d")
_SECRET_IN_QUERY = re.compile(r"((?:api_key|access_token|token)=)[^&\s\"']+", re.IGNORECASE)
_RECORD_ATTRIBUTES = {*vars(logging.makeLogRecord({})), "message", "asctime", "taskName"}

turn_logger = logging.getLogger("receptionist.turns")


def redact_text(text: str) -> str:
    """Mask email addresses, anything that looks like a phone number and secret query values."""
    masked = _SECRET_IN_QUERY.sub(rf"\1{REDACTED}", text)
    return _PHONE.sub(REDACTED, _EMAIL.sub(REDACTED, masked))


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, dict):
        return {k: REDACTED if _is_sensitive(k) else _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_value(v) for v in value]
    return value


def _is_sensitive(key: object) -> bool:
    text = str(key).lower()
    return text in _SENSITIVE_KEYS or text.startswith("lk.pii.")


class RedactPatientData(logging.Filter):
    """Scrubs a record in place; never drops it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact_text(record.getMessage())
        record.args = None
        for key, value in list(vars(record).items()):
            if key in _RECORD_ATTRIBUTES:
                continue
            setattr(record, key, REDACTED if _is_sensitive(key) else _redact_value(value))
        return True


class JsonFormatter(logging.Formatter):
    def __init__(self, *, ensure_ascii: bool = True) -> None:
        super().__init__()
        self._ensure_ascii = ensure_ascii  # the CLI's choice for its stdout's encoding

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {"ts": ts, "level": record.levelname.lower(), "service": SERVICE}
        entry |= {"logger": record.name, "message": record.getMessage()}
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=self._ensure_ascii)


def use_log_shape() -> None:
    """Make the LiveKit CLI's production handler write our shape (call before `run_app`).

    The CLI offers no hook between building its handler and the first line it writes, so
    the formatter class its `setup_logging` instantiates is replaced.
    """
    cli_log.JsonFormatter = JsonFormatter  # type: ignore[misc, assignment]


def install_redaction() -> None:
    """Attach the redaction filter to every root handler (idempotent)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactPatientData) for f in handler.filters):
            handler.addFilter(RedactPatientData())


def log_turn(turn: int, stages_ms: dict[str, float], *, clinic_id: str, tools: list[str]) -> None:
    """One line per answered turn with its stage latencies (milliseconds, rounded)."""
    turn_logger.info(
        "turn completed",
        extra={
            "turn": turn,
            "clinic_id": clinic_id,
            "tools": tools,
            "latency_ms": {stage: round(ms, 1) for stage, ms in stages_ms.items()},
        },
    )
