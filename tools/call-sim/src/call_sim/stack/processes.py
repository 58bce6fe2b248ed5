"""One process of the local stack, and a group of them: start, health-wait, stop.

Every process runs in its own process group with its output appended to a log file, and
dies with its parent (PR_SET_PDEATHSIG), so nothing outlives a crashed run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

LOOPBACK = "127.0.0.1"
VENV_BIN = Path(sys.executable).parent
_LOG_TAIL_CHARS = 3000


class StackError(RuntimeError):
    """A component could not be started; the message carries the reason and its log."""


def port_is_free(port: int, kind: socket.SocketKind = socket.SOCK_STREAM) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A TCP (or, with SOCK_DGRAM, UDP) port on loopback that nothing uses right now."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def pick_port(preferred: int | None, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """`preferred` when it is free, else any free port."""
    if preferred is not None and port_is_free(preferred, kind):
        return preferred
    return free_port(kind)


def console_script(name: str) -> str:
    """A console script of the virtualenv this Python runs in (else `name` on PATH)."""
    path = VENV_BIN / name
    return str(path) if path.exists() else name


def die_with_parent(argv: Sequence[str], death_signal: str = "KILL") -> list[str]:
    """`argv`, run so that the kernel sends it `death_signal` if we die (PR_SET_PDEATHSIG
    via util-linux's `setpriv`, which then execs it). Not a `preexec_fn`: Python code
    between fork and exec can deadlock on a lock another thread held at the fork (the rtc
    SDK's threads live in the callers' process), and did, hanging a component restart."""
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    return [setpriv, "--pdeathsig", death_signal, "--", *argv] if setpriv else list(argv)


def http_ok(url: str, *, expect_text: str | None = None) -> Callable[[], bool]:
    """A readiness check: `url` answers 200 (with exactly `expect_text`, if given)."""

    def check() -> bool:
        response = httpx.get(url, timeout=1.0)
        if response.status_code != 200:
            return False
        return expect_text is None or response.text.strip() == expect_text

    return check


def redis_ping(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    return check


@dataclass(kw_only=True)
class Component:
    """One process of the stack. `port` is where it listens (None when it has no HTTP face)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready: Callable[[], bool]
    address: str
    port: int | None = None
    cwd: Path | None = None
    death_signal: str = "KILL"  # TERM for a process that must clean up after itself
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self) -> str:
        return self.log()[-_LOG_TAIL_CHARS:] or "(no log)"

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Popen from the main thread only: PDEATHSIG follows the thread that forked
            self.process = subprocess.Popen(  # noqa: S603 - our own binaries and arguments
                die_with_parent(self.argv, self.death_signal),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.cwd,
            )
        self.started_at = time.monotonic()

    def wait_ready(self, timeout: float) -> float:
        """Seconds until the component answered its health check."""
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise StackError(
                    f"{self.name} exited with status {self.process.returncode} before it was "
                    f"ready. Its log ({self.log_path}):\n{self.log_tail()}"
                )
            if self._check():
                return time.monotonic() - self.started_at
            time.sleep(0.1)
        raise StackError(
            f"{self.name} did not become ready within {timeout:.0f} s. "
            f"Its log ({self.log_path}):\n{self.log_tail()}"
        )

    def launch(self, timeout: float = 30.0) -> float:
        """`start` and `wait_ready`; a component that fails to come up is stopped."""
        self.start()
        try:
            return self.wait_ready(timeout)
        except StackError:
            self.stop()
            raise

    def _check(self) -> bool:
        try:
            return self.ready()
        except (httpx.HTTPError, OSError):
            return False

    def signal_stop(self, sig: int = signal.SIGTERM) -> None:
        if self.running() and self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)

    def finish_stop(self, timeout: float) -> None:
        """Wait for the process after `signal_stop`; then kill whatever is left of its group."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)  # job processes left behind

    def stop(self, timeout: float = 15.0, sig: int = signal.SIGTERM) -> None:
        self.signal_stop(sig)
        self.finish_stop(timeout)

    async def stop_async(self, grace_seconds: float = 15.0) -> None:
        """`stop` without blocking the event loop (for use in the middle of a call)."""
        self.signal_stop()
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.process.wait, grace_seconds)
        self.finish_stop(1.0)


@dataclass
class Launcher:
    """Components started one by one (by tests, or by a tool); `stop_all` stops them all,
    the last started first. Its `log_dir` gets one `<name>-<port>.log` per service."""

    log_dir: Path
    started: list[Component] = field(default_factory=list)

    def add(self, component: Component, timeout: float = 30.0) -> Component:
        """Launch `component` and stop it with the others."""
        component.launch(timeout)
        self.started.append(component)
        return component

    def start(
        self,
        command: Sequence[str],
        *,
        name: str,
        env: Mapping[str, str],
        port: int | None = None,
        ready_path: str = "/healthz",
        timeout: float = 30.0,
    ) -> Component:
        """A console script (looked up in the virtualenv) with `PORT` set to a free port
        (or `port`), `env` added to this process's environment, healthy on `ready_path`."""
        chosen = port or free_port()
        component = service(
            command,
            name=name,
            port=chosen,
            env={"PORT": str(chosen), **env},
            log_path=self.log_dir / f"{name}-{chosen}.log",
            ready_path=ready_path,
        )
        return self.add(component, timeout)

    def stop_all(self) -> None:
        for component in reversed(self.started):
            component.stop()
        self.started.clear()


def service(
    command: Sequence[str],
    *,
    name: str,
    port: int,
    env: Mapping[str, str],
    log_path: Path,
    ready_path: str = "/healthz",
    expect_text: str | None = None,
) -> Component:
    """An HTTP service from its console script, on loopback, not yet started."""
    return Component(
        name=name,
        argv=[console_script(command[0]), *command[1:]],
        env={**os.environ, "HOST": LOOPBACK, **env},
        log_path=log_path,
        ready=http_ok(f"http://{LOOPBACK}:{port}{ready_path}", expect_text=expect_text),
        address=f"http://{LOOPBACK}:{port}",
        port=port,
    )
