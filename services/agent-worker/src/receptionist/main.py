"""`agent-worker start|dev|console` — the LiveKit CLI around our agent server."""

from __future__ import annotations

import os
import sys

from .config import get_settings


def run() -> None:
    settings = get_settings()
    missing = settings.missing_provider_keys()
    if missing and not {"-h", "--help"} & set(sys.argv[1:]):
        # fail at start-up, not on every call: a worker without keys would take calls it
        # cannot answer (stand-ins such as provider-sim accept any non-empty key)
        sys.exit(f"agent-worker: set {', '.join(missing)} before starting the worker")
    # prometheus_client picks multiprocess mode when it is first imported, so the
    # directory must be in the environment before livekit (or we) import it
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = settings.prometheus_multiproc_dir
    os.makedirs(settings.prometheus_multiproc_dir, exist_ok=True)

    from livekit.agents import cli

    from .logs import use_log_shape
    from .worker import build_server

    use_log_shape()
    cli.run_app(build_server(settings))
