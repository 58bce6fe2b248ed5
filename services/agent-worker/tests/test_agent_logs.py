"""Patient data never reaches a log line, and production lines have the one shape."""

from __future__ import annotations

import io
import json
import logging

from livekit.agents.cli.log import JsonFormatter as LiveKitJsonFormatter
from receptionist.logs import JsonFormatter, RedactPatientData, install_log_shape, log_turn


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


def test_install_shapes_the_cli_json_handler_and_is_idempotent() -> None:
    root = logging.getLogger()
    cli_json = logging.StreamHandler(io.StringIO())
    cli_json.setFormatter(LiveKitJsonFormatter())
    coloured = logging.NullHandler()  # `dev`: the console keeps the CLI's lines for people
    root.addHandler(cli_json)
    root.addHandler(coloured)
    try:
        install_log_shape()
        install_log_shape()
        assert isinstance(cli_json.formatter, JsonFormatter)
        assert coloured.formatter is None
        for handler in (cli_json, coloured):
            assert sum(isinstance(f, RedactPatientData) for f in handler.filters) == 1
    finally:
        root.removeHandler(cli_json)
        root.removeHandler(coloured)
