"""Console script `provider-sim`: serve the stand-ins with uvicorn."""

from __future__ import annotations

import logging
import sys

import uvicorn

from provider_sim.app import create_app
from provider_sim.config import Settings
from provider_sim.logs import configure_logging
from provider_sim.scenario import ScenarioError

logger = logging.getLogger(__name__)


def run() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        app = create_app(settings)
    except ScenarioError as error:
        logger.error("cannot start: invalid scenario", extra={"reason": str(error)})
        sys.exit(2)
    logger.info(
        "provider-sim starting",
        extra={
            "port": settings.port,
            "stt_mode": settings.sim_stt_mode,
            "tts_mode": settings.sim_tts_mode,
            "scenario": app.state.runtime.scenario.name,
        },
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        ws="websockets-sansio",
        timeout_graceful_shutdown=5,
    )
