"""Patient data never reaches a log line, and production lines have the one shape."""

from __future__ import annotations

import io
import json
import logging

from livekit.agents.cli import log as cli_log
from receptionist.logs import (
    JsonFormatter,
    RedactPatientData,
    install_redaction,
    log_turn,
    use_log_shape,
)


def json_lines(emit) -> list[dict]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactPatientData())
    logger = logging.getLogger("receptionist.test-logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        emit(logger)
    finally:
        logger.removeHandler(handler)
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_phone_numbers_emails_and_patient_fields_are_redacted() -> None:
    lines = json_lines(
        lambda log: log.info(
            "caller %s said call me at %s",
            "maria@example.com",
            "(512) 555-0187",
            extra={
                "patient_name": "Maria Garcia",
                "lk.pii.arguments": '{"patient_phone": "5125550187"}',
                "clinic_id": "bright-smile",
                "details": {"phone": "+15125550187", "attempt": 2},
            },
        )
    )
    (line,) = lines
    text = json.dumps(line)
    for secret in ("maria@example.com", "555-0187", "Maria Garcia", "5125550187"):
        assert secret not in text
    assert line["clinic_id"] == "bright-smile"
    assert line["details"]["attempt"] == 2


def test_turn_lines_keep_their_latencies() -> None:
    logger = logging.getLogger("receptionist.turns")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactPatientData())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        log_turn(3, {"end_to_end": 812.345}, clinic_id="bright-smile", tools=["book_appointment"])
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue())
    assert line["message"] == "turn completed"
    assert line["latency_ms"] == {"end_to_end": 812.3}
    assert line["tools"] == ["book_appointment"]


def test_the_clis_production_handler_writes_our_shape(monkeypatch) -> None:
    monkeypatch.setattr(cli_log, "JsonFormatter", cli_log.JsonFormatter)  # undone afterwards
    use_log_shape()
    root = logging.getLogger()
    before = list(root.handlers)
    try:
        cli_log.setup_logging("INFO", devmode=False, console=False)
        [handler] = [h for h in root.handlers if h not in before]
        assert isinstance(handler.formatter, JsonFormatter)
    finally:
        root.handlers[:] = before


def test_install_is_idempotent() -> None:
    root = logging.getLogger()
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        install_redaction()
        install_redaction()
        assert sum(isinstance(f, RedactPatientData) for f in handler.filters) == 1
    finally:
        root.removeHandler(handler)
