"""The whole system on loopback: Redis, scheduling-api, livekit-server, token-service,
provider-sim and one agent worker (or `CALL_SIM_WORKERS` of them), in that order.

Each component is health-checked before the next starts; a component that dies or does
not answer in time stops the whole stack and raises `StackError` with the tail of its log.
`stop()` is idempotent; the workers go first. With DEEPGRAM_API_KEY, OPENAI_API_KEY and
CARTESIA_API_KEY all set, provider-sim is not started and the worker talks to the real
providers.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from call_sim.config import Settings
from call_sim.console import Console
from call_sim.stack.processes import (
    LOOPBACK,
    Component,
    console_script,
    free_port,
    pick_port,
    service,
)
from call_sim.stack.scheduling import SchedulingBook, scheduling_api_env
from call_sim.stack.servers import livekit_server, redis_server

LIVEKIT_API_KEY = "callsim"
AGENT_NAME = "bright-smile-receptionist"

# each service's default port (docs/configuration.md), used by `call-sim dev` when free
STANDARD_PORTS = {
    "scheduling-api": 8000,
    "token-service": 8001,
    "provider-sim": 8090,
    "livekit": 7880,
    "livekit-udp": 7882,
    "worker-health": 8081,
    "worker-metrics": 9100,
    "redis": 6379,
    "dispatcher-metrics": 9102,
}


@dataclass
class StackOptions:
    """What differs between `demo`, `dev`, tests and the benchmark."""

    scenario_yaml: str | None = None  # the model script provider-sim starts with
    standard_ports: bool = False  # dev: the documented ports when free
    extra_worker_env: dict[str, str] = field(default_factory=dict)
    extra_sim_env: dict[str, str] = field(default_factory=dict)
    web_client: bool = True
    # a CLINICS_CONFIG file or folder for scheduling-api and the webhook dispatcher
    # (tests serve clinics of their own); None: the packaged clinics
    clinics_config: Path | None = None


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
    dispatcher_metrics: str


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
            "dispatcher-metrics": port("dispatcher-metrics"),
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
            dispatcher_metrics=f"{base}:{self.ports['dispatcher-metrics']}/metrics",
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

    def scheduling_book(self, clinic_id: str = "bright-smile") -> SchedulingBook:
        """The test-side client of this stack's scheduling API (close it, or use `with`)."""
        return SchedulingBook(self.urls.scheduling_api, self.scheduling_token, clinic_id)

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

    def _plan(self) -> list[Component]:
        plan = [self._redis(), self._scheduling_api(), self._webhook_dispatcher(), self._livekit()]
        plan.extend(self._token_service(name) for name in self.token_service_names)
        if not self.real_providers:
            plan.append(self._provider_sim())
        plan.extend(self._agent_worker(name) for name in self.worker_names)
        return plan

    def _redis(self) -> Component:
        return redis_server(
            self.workdir / "redis", port=self.ports["redis"], log_path=self._log("redis-server")
        )

    def _scheduling_api(self) -> Component:
        env = scheduling_api_env(
            f"{self.urls.redis}/0",
            self.scheduling_token,
            WEBHOOKS_INSECURE_LOOPBACK="true",
            **self._clinics_env(),
        )
        return self._service("scheduling-api", ["scheduling-api"], env, "/readyz")

    def _clinics_env(self) -> dict[str, str]:
        clinics = self.options.clinics_config
        return {"CLINICS_CONFIG": str(clinics)} if clinics is not None else {}

    def _service(
        self, name: str, command: list[str], env: Mapping[str, str], ready_path: str
    ) -> Component:
        port = self.ports[name]
        env = {"PORT": str(port), "LOG_LEVEL": "INFO", **env}
        return service(
            command, name=name, port=port, env=env, log_path=self._log(name), ready_path=ready_path
        )

    def _webhook_dispatcher(self) -> Component:
        """Delivers the clinics' webhooks (`scheduling-api dispatch`); loopback receivers
        are allowed, as a clinic backend in development runs on this machine."""
        port = self.ports["dispatcher-metrics"]
        env = {
            "REDIS_URL": f"{self.urls.redis}/0",
            "DISPATCH_METRICS_PORT": str(port),
            "DISPATCH_INSECURE_LOOPBACK": "true",
            "LOG_LEVEL": "INFO",
            **self._clinics_env(),
        }
        return service(
            ["scheduling-api", "dispatch"],
            name="webhook-dispatcher",
            port=port,
            env=env,
            log_path=self._log("webhook-dispatcher"),
            ready_path="/metrics",
        )

    def _livekit(self) -> Component:
        server = livekit_server(
            self.workdir,
            api_key=self.livekit_api_key,
            api_secret=self.livekit_secret,
            port=self.ports["livekit"],
            udp_port=self.ports["livekit-udp"],
            binary=self.settings.livekit_server_bin,
            agent_target_load=self.settings.livekit_agent_target_load,
            webhook_urls=[
                f"http://{LOOPBACK}:{self.ports[name]}/v1/livekit/webhook"
                for name in self.token_service_names
            ],
        )
        server.log_path = self._log("livekit-server")
        return server

    def _token_service(self, name: str) -> Component:
        s = self.settings
        env = {
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
        }
        web_dir = self.settings.web_client_dir
        if self.options.web_client and (web_dir / "index.html").is_file():
            env["WEB_CLIENT_DIR"] = str(web_dir)
        return self._service(name, ["token-service"], env, "/readyz")

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
            "SIM_API_KEY": self.sim_api_key,
            **self.sim_latency_env(),
            **self.options.extra_sim_env,
        }
        if self.options.scenario_yaml is not None:
            script = self.workdir / "provider-script.yaml"
            script.write_text(self.options.scenario_yaml, encoding="utf-8")
            env["SIM_SCENARIO"] = str(script)
        return self._service("provider-sim", ["provider-sim"], env, "/healthz")

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
            argv=[console_script("agent-worker"), "start"],
            env={**os.environ, **self.worker_env(name)},
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
