"""The worker's heartbeat to the token service's dispatch watchdog: about once a second, the
calls this worker has receptionists in. When the worker dies (SIGKILL, a lost node) the
heartbeats stop, and the watchdog resumes its calls on another worker within a few
seconds; LiveKit alone notices a dead receptionist only after its ICE timeouts (~20 s).

Signed like a LiveKit webhook (a JWT from the LiveKit API key carrying the body's
SHA-256), so no new secret is needed. Runs in the worker's main process only.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
from collections.abc import Callable, Iterable
from datetime import timedelta

import httpx
from livekit import api
from livekit.agents.job import RunningJobInfo

logger = logging.getLogger("receptionist.heartbeat")
HEARTBEAT_PATH = "/v1/dispatch/worker-heartbeat"


def new_worker_id() -> str:
    """Stable for the process's life (LiveKit's worker id changes on every re-register,
    which would make a live worker look silent)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def calls_of(jobs: Iterable[RunningJobInfo]) -> list[dict[str, str]]:
    """The room and the receptionist's identity of every running job."""
    return [
        {"room": job.job.room.name, "identity": job.accept_arguments.identity}
        for job in jobs
        if job.job.room.name and job.accept_arguments.identity
    ]


def signed(body: bytes, api_key: str, api_secret: str) -> str:
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    return (
        api.AccessToken(api_key, api_secret)
        .with_sha256(digest)
        .with_ttl(timedelta(minutes=1))
        .to_jwt()
    )


class HeartbeatSender:
    def __init__(
        self,
        *,
        token_service_url: str,
        api_key: str,
        api_secret: str,
        worker_id: str,
        calls: Callable[[], list[dict[str, str]]],
        interval_seconds: float,
    ) -> None:
        self._url = token_service_url.rstrip("/") + HEARTBEAT_PATH
        self._key, self._secret = api_key, api_secret
        self._worker_id = worker_id
        self._calls = calls
        self._interval = interval_seconds
        self._failing = False

    async def run_forever(self) -> None:
        async with httpx.AsyncClient(timeout=max(2 * self._interval, 2.0)) as client:
            try:
                while True:
                    await self.send(client)
                    await asyncio.sleep(self._interval)
            finally:
                # a worker leaving cleanly (drained) says it has no calls left, so its
                # silence afterwards resumes nothing
                with contextlib.suppress(Exception):
                    await asyncio.shield(self.send(client, calls=[]))

    async def send(
        self, client: httpx.AsyncClient, calls: list[dict[str, str]] | None = None
    ) -> bool:
        """One heartbeat; a failure is logged once per run of failures, never raised."""
        reported = self._calls() if calls is None else calls
        body = json.dumps({"worker_id": self._worker_id, "calls": reported}).encode()
        try:
            response = await client.post(
                self._url,
                content=body,
                headers={
                    "Authorization": f"Bearer {signed(body, self._key, self._secret)}",
                    "Content-Type": "application/json",
                },
            )
            ok = response.status_code == 200
            problem = f"the token service answered {response.status_code}"
        except httpx.HTTPError as error:
            ok, problem = False, type(error).__name__
        if not ok and not self._failing:
            logger.warning(
                "dispatch heartbeat failed; a dead worker's calls will be resumed only "
                "when LiveKit notices (~20 s)",
                extra={"problem": problem},
            )
        elif ok and self._failing:
            logger.info("dispatch heartbeat restored")
        self._failing = not ok
        return ok
