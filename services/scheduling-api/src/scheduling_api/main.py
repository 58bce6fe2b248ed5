"""Console script `scheduling-api`: validate settings and clinics, then serve with uvicorn."""

from __future__ import annotations

import logging
import sys

import uvicorn
from pydantic import ValidationError

from scheduling_api.app import create_app
from scheduling_api.clinic_loader import ClinicConfigError
from scheduling_api.config import Settings
from scheduling_api.logs import configure_logging
from scheduling_api.read_deadlines import read_deadline_protocol

logger = logging.getLogger("scheduling_api")

EXIT_BAD_CONFIGURATION = 2


def run() -> None:
    """Start one uvicorn worker; scale out with more processes (they share Redis).

    `scheduling-api dispatch` runs the webhook dispatcher instead.
    """
    if sys.argv[1:2] == ["dispatch"]:
        from scheduling_api.dispatch.main import run as dispatch

        dispatch()
        return
    try:
        settings = Settings()
    except ValidationError as exc:
        configure_logging("INFO")
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'settings'}: "
            f"{error['msg'].removeprefix('Value error, ')}"
            for error in exc.errors()
        )
        logger.critical("invalid configuration: %s", problems)
        sys.exit(EXIT_BAD_CONFIGURATION)
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except ClinicConfigError as exc:
        logger.critical("invalid clinic configuration: %s", exc)
        sys.exit(EXIT_BAD_CONFIGURATION)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        server_header=False,
        http=read_deadline_protocol(
            header_timeout=settings.http_header_timeout_seconds,
            body_timeout=settings.http_body_timeout_seconds,
        ),
        timeout_graceful_shutdown=10,
    )
