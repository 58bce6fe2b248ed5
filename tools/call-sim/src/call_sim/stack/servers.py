"""The two servers that are not ours: redis-server and livekit-server, on loopback.

`livekit_loopback_config` is the only writer of LiveKit's loopback configuration.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
from dataclasses import dataclass
from pathlib import Path

from call_sim.config import DEFAULT_LIVEKIT_BINARY
from call_sim.stack.processes import LOOPBACK, Component, StackError, free_port, http_ok, redis_ping


@dataclass(kw_only=True)
class RedisServer(Component):
    """A real redis-server; `persistent` turns AOF on (fsync always) so restarts keep data."""

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def restart(self, timeout: float = 10.0) -> None:
        self.stop()
        self.launch(timeout)

    def flushall(self) -> None:
        with socket.create_connection((LOOPBACK, self.port or 0), timeout=2) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            sock.recv(16)


def redis_server(
    data_dir: Path,
    *,
    port: int | None = None,
    persistent: bool = False,
    log_path: Path | None = None,
    name: str = "redis-server",
) -> RedisServer:
    """A redis-server keeping its files in `data_dir`, not yet started."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise StackError(
            "redis-server is not installed: run `make setup` (it installs it when run as "
            "root) or install the 'redis-server' package yourself."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    chosen = port or free_port()
    durability = ["--appendonly", "yes", "--appendfsync", "always"]
    return RedisServer(
        name=name,
        argv=[
            binary,
            *("--bind", LOOPBACK, "--port", str(chosen), "--dir", str(data_dir)),
            *("--save", "", "--protected-mode", "yes"),
            *(durability if persistent else ["--appendonly", "no"]),
        ],
        env=dict(os.environ),
        log_path=log_path or data_dir / "redis.log",
        ready=redis_ping(chosen),
        address=f"{LOOPBACK}:{chosen}",
        port=chosen,
    )


def livekit_loopback_config(
    http_port: int,
    udp_port: int,
    api_key: str,
    secret: str,
    *,
    agent_target_load: float | None = None,
    webhook_urls: list[str] | None = None,
    redis_address: str = "",
) -> str:
    """Everything on 127.0.0.1: bind, advertised ICE address (loopback candidate on,
    external IP discovery off), STUN pointed at loopback. JSON, which is YAML.

    `agents.target_load`: the server dispatches a job only to a worker whose reported load
    (its machine's CPU, 0..1) is below this (default 0.7), independently of the worker's
    own LOAD_THRESHOLD, and never retries a refused dispatch.

    `webhook`: the server posts room and participant events there, signed with `api_key`
    (the token service's dispatch watchdog listens).

    `redis_address` (host:port): the server also stores SIP trunks and dispatch rules.
    """
    config: dict[str, object] = {
        "port": http_port,
        "bind_addresses": [LOOPBACK],
        "rtc": {
            "udp_port": udp_port,
            "tcp_port": 0,
            "node_ip": LOOPBACK,
            "use_external_ip": False,
            "enable_loopback_candidate": True,
            "ips": {"includes": [f"{LOOPBACK}/32"]},
            "stun_servers": [f"{LOOPBACK}:3478"],
        },
        "keys": {api_key: secret},
        "logging": {"level": "info"},
    }
    if agent_target_load is not None:
        config["agents"] = {"target_load": agent_target_load}
    if webhook_urls:
        config["webhook"] = {"api_key": api_key, "urls": webhook_urls}
    if redis_address:
        config["redis"] = {"address": redis_address}
    return json.dumps(config, indent=2)


@dataclass(kw_only=True)
class LiveKitServer(Component):
    """A real livekit-server; restartable on the same ports (`stop()` then `launch()`)."""

    udp_port: int
    api_key: str
    api_secret: str

    @property
    def http_port(self) -> int:
        return self.port or 0

    @property
    def url(self) -> str:
        """What clients and agents connect to (127.0.0.1, never localhost)."""
        return f"ws://{LOOPBACK}:{self.port}"

    @property
    def http_url(self) -> str:
        return self.base_url


def livekit_binary(path: Path | None = None) -> Path:
    """The pinned server (`make livekit-server`), or LIVEKIT_SERVER_BIN, or `path`."""
    binary = path or Path(os.environ.get("LIVEKIT_SERVER_BIN", str(DEFAULT_LIVEKIT_BINARY)))
    if not binary.is_file():
        raise StackError(
            f"livekit-server not found at {binary}: build the pinned version with "
            "`make livekit-server` (needs Go; `make test` does it for you), or set "
            "LIVEKIT_SERVER_BIN to an existing binary."
        )
    return binary


def livekit_server(
    workdir: Path,
    *,
    api_key: str = "devkey",
    api_secret: str | None = None,
    port: int | None = None,
    udp_port: int | None = None,
    binary: Path | None = None,
    agent_target_load: float | None = None,
    webhook_urls: list[str] | None = None,
    redis_address: str = "",
) -> LiveKitServer:
    """A livekit-server with its config and log in `workdir`, not yet started."""
    executable = livekit_binary(binary)
    http_port = port or free_port()
    rtc_port = udp_port or free_port(socket.SOCK_DGRAM)
    secret = api_secret or secrets.token_urlsafe(32)  # the server wants 32+ characters
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "livekit.yaml"
    config.write_text(
        livekit_loopback_config(
            http_port,
            rtc_port,
            api_key,
            secret,
            agent_target_load=agent_target_load,
            webhook_urls=webhook_urls,
            redis_address=redis_address,
        )
    )
    return LiveKitServer(
        name="livekit-server",
        argv=[str(executable), "--config", str(config)],
        env=dict(os.environ),
        log_path=workdir / "livekit-server.log",
        ready=http_ok(f"http://{LOOPBACK}:{http_port}/", expect_text="OK"),
        address=f"ws://{LOOPBACK}:{http_port}",
        port=http_port,
        udp_port=rtc_port,
        api_key=api_key,
        api_secret=secret,
    )
