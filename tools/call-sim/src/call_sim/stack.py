"""Starts and stops the whole local stack on loopback: Redis, scheduling-api, token-service,
provider-sim, livekit-server and one agent worker (or `CALL_SIM_WORKERS` of them).

Every component is a real process started from its console script (or binary) on a free
port of 127.0.0.1, in its own process group, with its output in `<workdir>/logs/`. Each is
health-checked before the next starts; a component that dies or does not answer in time
stops the whole stack and raises `StackError` with the tail of its log. `stop()` is
idempotent and runs in reverse order; on Linux the children also get SIGKILL if this
process dies without cleaning up (PR_SET_PDEATHSIG), so nothing outlives a crashed run.

With DEEPGRAM_API_KEY, OPENAI_API_KEY and CARTESIA_API_KEY all set, provider-sim is not
started and the worker talks to the real providers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from call_sim.config import Settings
from call_sim.console import Console

LOOPBACK = "127.0.0.1"
LIVEKIT_API_KEY = "callsim"
AGENT_NAME = "bright-smile-receptionist"
_VENV_BIN = Path(sys.executable).parent
_LOG_TAIL_CHARS = 3000

# the standard ports of METRICS_AND_PORTS.md, used by `call-sim dev` when they are free
STANDARD_PORTS = {
    "scheduling-api": 8000,
    "token-service": 8001,
    "provider-sim": 8090,
    "livekit": 7880,
    "livekit-udp": 7882,
    "worker-health": 8081,
    "worker-metrics": 9100,
    "redis": 6379,
}


class StackError(RuntimeError):
    """A component could not be started; the message carries the reason and its log."""


def _port_is_free(port: int, kind: socket.SocketKind) -> bool:
    with socket.socket(socket.AF_INET, kind) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
    return True


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def pick_port(preferred: int | None, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    if preferred is not None and _port_is_free(preferred, kind):
        return preferred
    return free_port(kind)


def _die_with_parent(argv: list[str]) -> list[str]:
    """`argv`, run so that the kernel kills it if we die (PR_SET_PDEATHSIG via util-linux's
    `setpriv`, which then execs it). Not a `preexec_fn`: Python code between fork and exec
    can deadlock on a lock another thread held at the fork (the rtc SDK's threads live in
    the callers' process), and did, hanging a component restart."""
    setpriv = shutil.which("setpriv") if sys.platform == "linux" else None
    return [setpriv, "--pdeathsig", "KILL", "--", *argv] if setpriv else argv


@dataclass
class Component:
    """One process of the stack."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    ready: Callable[[], bool]
    address: str
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self) -> str:
        if not self.log_path.exists():
            return "(no log)"
        text = self.log_path.read_text(errors="replace")
        return text[-_LOG_TAIL_CHARS:]

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # Popen from the main thread only: PDEATHSIG follows the thread that forked
            self.process = subprocess.Popen(  # noqa: S603 - our own binaries and arguments
                _die_with_parent(self.argv),
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
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

    def _check(self) -> bool:
        try:
            return self.ready()
        except (httpx.HTTPError, OSError):
            return False

    def signal_stop(self) -> None:
        if self.running() and self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)

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

    def stop(self, timeout: float = 15.0) -> None:
        self.signal_stop()
        self.finish_stop(timeout)

    async def stop_async(self, grace_seconds: float = 15.0) -> None:
        """`stop` without blocking the event loop (for use in the middle of a call)."""
        self.signal_stop()
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(self.process.wait, grace_seconds)
        self.finish_stop(1.0)


def _http_ok(url: str, *, expect_text: str | None = None) -> Callable[[], bool]:
    def check() -> bool:
        response = httpx.get(url, timeout=1.0)
        if response.status_code != 200:
            return False
        return expect_text is None or response.text.strip() == expect_text

    return check


def _redis_ping(port: int) -> Callable[[], bool]:
    def check() -> bool:
        with socket.create_connection((LOOPBACK, port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")

    return check


def livekit_loopback_config(
    http_port: int,
    udp_port: int,
    api_key: str,
    secret: str,
    *,
    agent_target_load: float,
    webhook_urls: list[str] | None = None,
) -> str:
    """Everything on 127.0.0.1: bind, advertised ICE address, STUN (see REFERENCE.md).

    `agents.target_load`: the server dispatches a job only to a worker whose reported load
    (its machine's CPU, 0..1) is below this (default 0.7), independently of the worker's
    own LOAD_THRESHOLD, and never retries a refused dispatch.

    `webhook`: the server posts room and participant events there, signed with `api_key`
    (the token service's dispatch watchdog listens).
    """
    config = {
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
        "agents": {"target_load": agent_target_load},
        "logging": {"level": "info"},
    }
    if webhook_urls:
        config["webhook"] = {"api_key": api_key, "urls": webhook_urls}
    return json.dumps(config, indent=2)


@dataclass
class StackOptions:
    """What differs between `demo`, `dev`, tests and the benchmark."""

    scenario_yaml: str | None = None  # the model script provider-sim starts with
    standard_ports: bool = False  # dev: the documented ports when free
    extra_worker_env: dict[str, str] = field(default_factory=dict)
    extra_sim_env: dict[str, str] = field(default_factory=dict)
    web_client: bool = True


@dataclass(frozen=True)
class StackUrls:
    scheduling_api: str
    token_service: str
    livekit_ws: str
    livekit_http: str
    provider_sim: str | None
    worker_health: str
    worker_metrics: str
    redis: str


class Stack:
    """The running system. Use as a context manager, or `start()` / `stop()`."""

    def __init__(
        self,
        settings: Settings,
        console: Console | None = None,
        options: StackOptions | None = None,
    ) -> None:
        self.settings = settings
        self.console = console or Console(quiet=True)
        self.options = options or StackOptions()
        self._own_workdir = settings.workdir is None
        self.workdir = settings.workdir or Path(tempfile.mkdtemp(prefix="call-sim-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.real_providers = settings.real_providers
        self.scheduling_token = secrets.token_urlsafe(24)
        self.sim_api_key = secrets.token_urlsafe(24)
        self.livekit_api_key = LIVEKIT_API_KEY
        self.livekit_secret = secrets.token_urlsafe(32)
        self.agent_name = AGENT_NAME
        self.components: dict[str, Component] = {}
        self._stopped = False
        standard = self.options.standard_ports

        def port(name: str, kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
            return pick_port(STANDARD_PORTS[name] if standard else None, kind)

        self.ports = {
            "redis": port("redis"),
            "scheduling-api": port("scheduling-api"),
            "token-service": port("token-service"),
            "provider-sim": port("provider-sim"),
            "livekit": port("livekit"),
            "livekit-udp": port("livekit-udp", socket.SOCK_DGRAM),
            "worker-health": port("worker-health"),
            "worker-metrics": port("worker-metrics"),
        }
        for number in range(2, settings.token_services + 1):
            self.ports[f"token-service-{number}"] = free_port()
        for number in range(2, settings.workers + 1):
            self.ports[f"worker-health-{number}"] = free_port()
            self.ports[f"worker-metrics-{number}"] = free_port()
        base = f"http://{LOOPBACK}"
        self.urls = StackUrls(
            scheduling_api=f"{base}:{self.ports['scheduling-api']}",
            token_service=f"{base}:{self.ports['token-service']}",
            livekit_ws=f"ws://{LOOPBACK}:{self.ports['livekit']}",
            livekit_http=f"{base}:{self.ports['livekit']}",
            provider_sim=None if self.real_providers else f"{base}:{self.ports['provider-sim']}",
            worker_health=f"{base}:{self.ports['worker-health']}",
            worker_metrics=f"{base}:{self.ports['worker-metrics']}/metrics",
            redis=f"redis://{LOOPBACK}:{self.ports['redis']}",
        )

    # ---- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> Stack:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        if self.real_providers:
            self.console.step(
                "providers", "DEEPGRAM/OPENAI/CARTESIA keys found: using the REAL providers"
            )
        else:
            self.console.step("providers", "no API keys: provider-sim stands in (offline)")
        self.console.step("workdir", str(self.workdir))
        try:
            for component in self._plan():
                self.components[component.name] = component
                self._start(component)
        except BaseException:
            self.stop()
            raise

    def _start(self, component: Component) -> None:
        component.start()
        took = component.wait_ready(self.settings.startup_timeout_seconds)
        self.console.ok(component.name, f"{component.address}  (ready in {took:.1f} s)")

    def stop(self) -> None:
        """Stop everything. Safe to call twice, from atexit or a signal.

        The agent worker goes first (so it can end its calls while the services it uses are
        still up); the rest get SIGTERM together and are waited for, so a Ctrl-C takes as
        long as the slowest component, not the sum of them all.
        """
        if self._stopped:
            return
        self._stopped = True
        running = [c for c in reversed(list(self.components.values())) if c.running()]
        first = [c for c in running if c.name in self.worker_names]
        rest = [c for c in running if c.name not in self.worker_names]
        for group in (first, rest):
            for component in group:
                component.signal_stop()
            for component in group:
                component.finish_stop(timeout=15.0)
                self.console.ok(component.name, "stopped")
        if self._own_workdir:  # the logs stay; the metric files are of no use afterwards
            shutil.rmtree(self.workdir / "prometheus", ignore_errors=True)

    def restart(self, name: str) -> None:
        """Start a stopped component again on the same port (e.g. the scheduling API)."""
        component = self.components[name]
        if component.running():
            return
        self._start(component)

    def component(self, name: str) -> Component:
        return self.components[name]

    def worker_setting(self, name: str) -> str | None:
        """A setting as the worker sees it (our override, else this process's environment)."""
        return self.worker_env().get(name, os.environ.get(name))

    @property
    def worker_pid(self) -> int | None:
        worker = self.components.get("agent-worker")
        return worker.pid if worker is not None else None

    @property
    def worker_names(self) -> list[str]:
        """`agent-worker`, then `agent-worker-2`... (`CALL_SIM_WORKERS`)."""
        return ["agent-worker"] + [
            f"agent-worker-{number}" for number in range(2, self.settings.workers + 1)
        ]

    @property
    def token_service_names(self) -> list[str]:
        """`token-service`, then `token-service-2`... (`CALL_SIM_TOKEN_SERVICES` replicas
        sharing Redis, each receiving LiveKit's webhooks)."""
        return ["token-service"] + [
            f"token-service-{number}" for number in range(2, self.settings.token_services + 1)
        ]

    def service_url(self, name: str) -> str:
        return f"http://{LOOPBACK}:{self.ports[name]}"

    def worker_urls(self, name: str) -> tuple[str, str]:
        """The health server and the /metrics URL of one worker."""
        suffix = name.removeprefix("agent-worker")
        health = self.ports[f"worker-health{suffix}"]
        metrics = self.ports[f"worker-metrics{suffix}"]
        return f"http://{LOOPBACK}:{health}", f"http://{LOOPBACK}:{metrics}/metrics"

    # ---- the plan -------------------------------------------------------------------------

    def _log(self, name: str) -> Path:
        return self.workdir / "logs" / f"{name}.log"

    def _env(self, extra: Mapping[str, str]) -> dict[str, str]:
        return {**os.environ, **extra}

    def _plan(self) -> list[Component]:
        plan = [self._redis(), self._scheduling_api(), self._livekit()]
        plan.extend(self._token_service(name) for name in self.token_service_names)
        if not self.real_providers:
            plan.append(self._provider_sim())
        plan.extend(self._agent_worker(name) for name in self.worker_names)
        return plan

    def _redis(self) -> Component:
        binary = shutil.which("redis-server")
        if binary is None:
            raise StackError("redis-server is not installed: run `make setup`")
        data = self.workdir / "redis"
        data.mkdir(exist_ok=True)
        port = self.ports["redis"]
        return Component(
            name="redis-server",
            argv=[
                binary,
                "--bind",
                LOOPBACK,
                "--port",
                str(port),
                "--dir",
                str(data),
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            env=self._env({}),
            log_path=self._log("redis-server"),
            ready=_redis_ping(port),
            address=f"{LOOPBACK}:{port}",
        )

    def _scheduling_api(self) -> Component:
        port = self.ports["scheduling-api"]
        return Component(
            name="scheduling-api",
            argv=[str(_VENV_BIN / "scheduling-api")],
            env=self._env(
                {
                    "HOST": LOOPBACK,
                    "PORT": str(port),
                    "REDIS_URL": f"{self.urls.redis}/0",
                    "SCHEDULING_API_TOKENS": self.scheduling_token,
                    "SLOT_ID_SECRET": secrets.token_urlsafe(32),
                    "LOG_LEVEL": "INFO",
                }
            ),
            log_path=self._log("scheduling-api"),
            ready=_http_ok(f"{self.urls.scheduling_api}/readyz"),
            address=self.urls.scheduling_api,
        )

    def _livekit(self) -> Component:
        binary = self.settings.livekit_server_bin
        if not binary.is_file():
            raise StackError(
                f"livekit-server not found at {binary}: build the pinned version with "
                "`make livekit-server` (or set CALL_SIM_LIVEKIT_SERVER_BIN)"
            )
        config = self.workdir / "livekit.yaml"
        config.write_text(
            livekit_loopback_config(
                self.ports["livekit"],
                self.ports["livekit-udp"],
                self.livekit_api_key,
                self.livekit_secret,
                agent_target_load=self.settings.livekit_agent_target_load,
                webhook_urls=[
                    f"http://{LOOPBACK}:{self.ports[name]}/v1/livekit/webhook"
                    for name in self.token_service_names
                ],
            )
        )
        return Component(
            name="livekit-server",
            argv=[str(binary), "--config", str(config)],
            env=self._env({}),
            log_path=self._log("livekit-server"),
            ready=_http_ok(self.urls.livekit_http + "/", expect_text="OK"),
            address=self.urls.livekit_ws,
        )

    def _token_service(self, name: str) -> Component:
        address = self.service_url(name)
        s = self.settings
        env = {
            "HOST": LOOPBACK,
            "PORT": str(self.ports[name]),
            "LIVEKIT_URL": self.urls.livekit_ws,
            "LIVEKIT_API_URL": self.urls.livekit_http,
            "DISPATCH_GRACE_SECONDS": str(s.dispatch_grace_seconds),
            "DISPATCH_RETRY_WINDOW_SECONDS": str(s.dispatch_retry_window_seconds),
            "DISPATCH_BACKOFF_MAX_SECONDS": str(s.dispatch_backoff_max_seconds),
            "LIVEKIT_API_KEY": self.livekit_api_key,
            "LIVEKIT_API_SECRET": self.livekit_secret,
            "AGENT_NAME": self.agent_name,
            "CLINIC_IDS": "bright-smile",
            "REDIS_URL": f"{self.urls.redis}/1",
            # local callers all come from 127.0.0.1: the limit would only get in the way
            "RATE_LIMIT_REQUESTS": "100000",
            "RATE_LIMIT_BURST": "100000",
            "LOG_LEVEL": "INFO",
        }
        web_dir = self.settings.web_client_dir
        if self.options.web_client and (web_dir / "index.html").is_file():
            env["WEB_CLIENT_DIR"] = str(web_dir)
        return Component(
            name=name,
            argv=[str(_VENV_BIN / "token-service")],
            env=self._env(env),
            log_path=self._log(name),
            ready=_http_ok(f"{address}/readyz"),
            address=address,
        )

    def sim_latency_env(self) -> dict[str, str]:
        """provider-sim's modes and latencies: the profile, and any figure set one by one."""
        s = self.settings
        env = {
            "SIM_STT_MODE": s.stt_mode.value,
            "SIM_TTS_MODE": s.tts_mode.value,
            "SIM_PROVIDER_PROFILE": s.provider_profile.value,
            "SIM_TTS_MS_PER_CHARACTER": str(s.tts_ms_per_character),
            "SIM_LATENCY_JITTER": "0",
            "SIM_STT_SPEECH_THRESHOLD_DBFS": str(s.speech_threshold_dbfs),
            "SIM_SEED": str(s.seed),
        }
        overrides = {
            "SIM_STT_ENDPOINTING_MS": s.stt_endpointing_ms,
            "SIM_STT_FINAL_DELAY_MS": s.stt_final_delay_ms,
            "SIM_LLM_TTFT_MS": s.llm_ttft_ms,
            "SIM_LLM_TOKENS_PER_SECOND": s.llm_tokens_per_second,
            "SIM_TTS_TTFB_MS": s.tts_ttfb_ms,
        }
        env.update({name: str(value) for name, value in overrides.items() if value is not None})
        return env

    def _provider_sim(self) -> Component:
        env = {
            "HOST": LOOPBACK,
            "PORT": str(self.ports["provider-sim"]),
            "SIM_API_KEY": self.sim_api_key,
            "LOG_LEVEL": "INFO",
            **self.sim_latency_env(),
            **self.options.extra_sim_env,
        }
        if self.options.scenario_yaml is not None:
            script = self.workdir / "provider-script.yaml"
            script.write_text(self.options.scenario_yaml, encoding="utf-8")
            env["SIM_SCENARIO"] = str(script)
        assert self.urls.provider_sim is not None
        return Component(
            name="provider-sim",
            argv=[str(_VENV_BIN / "provider-sim")],
            env=self._env(env),
            log_path=self._log("provider-sim"),
            ready=_http_ok(f"{self.urls.provider_sim}/healthz"),
            address=self.urls.provider_sim,
        )

    def worker_env(self, name: str = "agent-worker") -> dict[str, str]:
        suffix = name.removeprefix("agent-worker")
        metrics_dir = self.workdir / f"prometheus{suffix}"
        metrics_dir.mkdir(exist_ok=True)
        env = {
            "LIVEKIT_URL": self.urls.livekit_ws,
            "LIVEKIT_API_KEY": self.livekit_api_key,
            "LIVEKIT_API_SECRET": self.livekit_secret,
            "AGENT_NAME": self.agent_name,
            "SCHEDULING_API_URL": self.urls.scheduling_api,
            "SCHEDULING_API_TOKEN": self.scheduling_token,
            # the dispatch watchdog resumes a dead worker's calls once its heartbeats stop
            "DISPATCH_HEARTBEAT_URL": self.urls.token_service,
            "HEALTH_PORT": str(self.ports[f"worker-health{suffix}"]),
            "PROMETHEUS_PORT": str(self.ports[f"worker-metrics{suffix}"]),
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
            "SILENCE_TIMEOUT_SECONDS": str(self.settings.silence_timeout_seconds),
            "MAX_CALLS_PER_WORKER": str(self.settings.max_calls_per_worker),
            "CPU_LOAD_LIMIT": str(self.settings.cpu_load_limit),
            "JOB_EXECUTOR": self.settings.job_executor,
            "DRAIN_TIMEOUT_SECONDS": "10",
            "LOG_LEVEL": "INFO",
        }
        if self.settings.num_idle_processes is not None:
            env["NUM_IDLE_PROCESSES"] = str(self.settings.num_idle_processes)
        if not self.real_providers:
            sim = f"{LOOPBACK}:{self.ports['provider-sim']}"
            env |= {
                "DEEPGRAM_API_KEY": self.sim_api_key,
                "OPENAI_API_KEY": self.sim_api_key,
                "CARTESIA_API_KEY": self.sim_api_key,
                "DEEPGRAM_BASE_URL": f"ws://{sim}/v1/listen",
                "OPENAI_BASE_URL": f"http://{sim}/v1",
                "CARTESIA_BASE_URL": f"http://{sim}",
            }
        return env | self.options.extra_worker_env

    def _agent_worker(self, name: str) -> Component:
        health, metrics = self.worker_urls(name)
        return Component(
            name=name,
            argv=[str(_VENV_BIN / "agent-worker"), "start"],
            env=self._env(self.worker_env(name)),
            log_path=self._log(name),
            ready=lambda: self._worker_registered(health, metrics),
            address=f"{health}  metrics {metrics}",
        )

    def _worker_registered(self, health_url: str, metrics_url: str) -> bool:
        """Healthy (connected to LiveKit) and at least one job process warm, if asked for."""
        if httpx.get(health_url + "/", timeout=1.0).status_code != 200:
            return False
        if self.settings.num_idle_processes == 0 or self.settings.job_executor == "thread":
            return True  # thread runners warm up inside the worker process, uncounted
        metrics = httpx.get(metrics_url, timeout=1.0).text
        for line in metrics.splitlines():
            if line.startswith("lk_agents_child_process_count"):
                return float(line.rsplit(" ", 1)[1]) >= 1
        return False
