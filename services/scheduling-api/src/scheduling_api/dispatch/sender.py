"""One signed delivery attempt over HTTP: Standard Webhooks headers, no redirects, a
timeout, and at most a small part of the response body read."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from scheduling_api.dispatch.safety import OutboundPolicy, RefusedDestinationError, resolve
from scheduling_api.domain.webhooks import signature

USER_AGENT = "BrightSmile-Webhooks/1"


@dataclass(frozen=True, slots=True)
class Attempt:
    delivered: bool
    status_code: int | None
    error: str | None
    """Why it failed, for the delivery record (never a secret, never the body sent)."""


class Sender:
    def __init__(
        self, *, policy: OutboundPolicy, timeout_seconds: float, max_response_bytes: int
    ) -> None:
        self._policy = policy
        self._max_response_bytes = max_response_bytes
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_seconds),
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def send(self, url: str, secret: str, message_id: str, body: bytes) -> Attempt:
        try:
            destination = await resolve(url, self._policy)
        except RefusedDestinationError as exc:
            return Attempt(False, None, f"refused: {exc}")
        timestamp = int(time.time())
        headers = {
            "Host": destination.host
            if destination.port in (80, 443)
            else f"{destination.host}:{destination.port}",
            "Content-Type": "application/json",
            "webhook-id": message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(secret, message_id, timestamp, body),
        }
        request = self._client.build_request(
            "POST",
            destination.url(),
            content=body,
            headers=headers,
            extensions={"sni_hostname": destination.host},
        )
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            return Attempt(False, None, "timeout")
        except httpx.HTTPError as exc:
            return Attempt(False, None, f"connection failed: {type(exc).__name__}")
        try:
            await self._read_capped(response)
        except httpx.HTTPError:
            pass  # the status is what counts; a body cut short does not undo it
        finally:
            await response.aclose()
        if 200 <= response.status_code < 300:
            return Attempt(True, response.status_code, None)
        if 300 <= response.status_code < 400:
            return Attempt(False, response.status_code, "redirect not followed")
        return Attempt(False, response.status_code, f"HTTP {response.status_code}")

    async def _read_capped(self, response: httpx.Response) -> None:
        read = 0
        async for chunk in response.aiter_raw():
            read += len(chunk)
            if read >= self._max_response_bytes:
                return
