"""A clinic backend's webhook receiver on loopback, verifying with `standardwebhooks`.

It is a real HTTP server in a thread; it can be down (not listening: connection refused)
and brought up on the same port.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Received:
    webhook_id: str
    event_type: str
    data: dict[str, Any]


@dataclass
class Receiver:
    port: int
    secret: str = ""
    received: list[Received] = field(default_factory=list)
    rejected: int = 0
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def up(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                try:
                    payload = Webhook(receiver.secret).verify(body, dict(self.headers.items()))
                except Exception:
                    receiver.rejected += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                receiver.received.append(
                    Received(self.headers["webhook-id"], payload["type"], payload["data"])
                )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def ids(self) -> list[str]:
        return [item.webhook_id for item in self.received]

    def subjects(self) -> list[str]:
        return [
            str(item.data.get("booking_id") or item.data.get("callback_id") or item.data["call_id"])
            for item in self.received
        ]
