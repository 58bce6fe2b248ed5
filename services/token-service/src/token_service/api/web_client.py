"""Serves the built web client (the clinic's "Call us" page) at `/`, same origin as the API.

Serving it here means the page calls `/v1/token` on its own origin: no CORS needed.
When no build is present, `/` explains how to provide one instead of a bare 404.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.staticfiles import StaticFiles

from token_service.api.errors import error_response

logger = logging.getLogger(__name__)


def web_client_csp(livekit_url: str) -> str:
    """A CSP for the web page that lets it reach only us and the LiveKit server.

    The LiveKit client talks to the server over its WebSocket URL and, for connection
    checks, over the matching http(s) URL; audio plays from MediaStreams (`blob:`).
    """
    parts = urlsplit(livekit_url)
    http_scheme = "https" if parts.scheme == "wss" else "http"
    livekit_origins = f"{parts.scheme}://{parts.netloc} {http_scheme}://{parts.netloc}"
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            "img-src 'self' data:",
            "media-src 'self' blob:",
            "worker-src 'self' blob:",
            f"connect-src 'self' {livekit_origins}",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def install_web_client(app: FastAPI, directory: Path) -> None:
    """Mount `directory` at `/` if it holds a build; else make `/` say how to build one.

    Must be called after the API routers: the mount catches every path they do not.
    """
    if (directory / "index.html").is_file():
        app.mount("/", StaticFiles(directory=directory, html=True), name="web-client")
        logger.info(
            "serving the web client",
            extra={"event": "web_client", "directory": str(directory)},
        )
        return

    logger.info(
        "no web client build found; / explains how to provide one",
        extra={"event": "web_client_missing", "directory": str(directory)},
    )

    async def web_client_missing() -> JSONResponse:
        # No filesystem path here: this answer is public.
        return error_response(
            404,
            "web_client_not_built",
            "no web client build is installed. Build the web client and set WEB_CLIENT_DIR "
            "to its output folder (for example web/dist), or ship the build as the "
            "token_service package's static/ folder. The token endpoint is POST /v1/token.",
        )

    app.add_api_route("/", web_client_missing, methods=["GET"], include_in_schema=False)
