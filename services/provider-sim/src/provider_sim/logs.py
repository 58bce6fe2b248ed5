"""JSON log lines in the shape docs/conventions.md sets, for our loggers and uvicorn's.

`ts`, `level`, `service`, `logger`, `message`, then the call's `extra=` fields flat at
the top level. Call sites log ids, outcomes and reasons only (never secrets or patient
data); as a second line of defence, secret values in URL query strings are masked.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

SERVICE = "provider-sim"
REDACTED = "[redacted]"

# what every record carries (uvicorn adds `color_message`, an ANSI-coloured copy)
_RECORD_ATTRIBUTES = {*vars(logging.makeLogRecord({})), "message", "color_message", "taskName"}
_SECRET_IN_QUERY = re.compile(r"((?:api_key|access_token|token)=)[^&\s\"']+", re.IGNORECASE)


def redact(text: str) -> str:
    """Mask the values of secret-bearing query parameters (`?token=…`, `?api_key=…`)."""
    return _SECRET_IN_QUERY.sub(rf"\1{REDACTED}", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        entry: dict[str, Any] = {"ts": ts, "level": record.levelname.lower(), "service": SERVICE}
        entry |= {"logger": record.name, "message": redact(record.getMessage())}
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str) -> None:
    """Send every logger (ours, uvicorn's, the libraries') through one handler on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
