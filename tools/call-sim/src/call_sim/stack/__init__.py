"""The one place that starts the local stack: every test, bench, `make demo` and `make dev`
starts its processes through this package. Read this map to start any part of it.

Why here: call-sim already starts the whole system for `call-sim demo/dev/bench`, and
`make setup` installs tools/call-sim editable into the dev venv, so every conftest, bench
and tool can import it without a package of its own.

Every process is a `Component` (processes.py): a real process from its console script or
binary, on a free port of 127.0.0.1, in its own process group, its output appended to a
log file, health-checked until ready, and killed by the kernel if its parent dies
(PR_SET_PDEATHSIG), so nothing outlives a crashed run. A component that exits or does not
answer in time raises `StackError` with the tail of its log.

What to call (all importable from `call_sim.stack`):

    free_port(kind)                 a free TCP (or UDP, SOCK_DGRAM) loopback port
    pick_port(preferred)            the preferred port if free, else a free one
    redis_server(data_dir, ...)     redis-server (`persistent=True`: AOF, fsync always)
    livekit_server(workdir, ...)    livekit-server with the loopback config
                                    (`livekit_loopback_config`, its only writer)
    service(command, ...)           one of our HTTP services (scheduling-api,
                                    token-service, provider-sim, `agent-worker start`
                                    with ready_path="/"); the token service's dispatch
                                    watchdog runs in it, fed by LiveKit's webhooks
                                    (`livekit_server(webhook_urls=...)`)
    Component(name=, argv=, ...)    anything else (a webhook receiver, a dispatcher):
                                    give it argv, env, log_path and a `ready` check
                                    (`http_ok(url)`, `redis_ping(port)`)
    die_with_parent(argv)           argv that the kernel kills when we die, for a
                                    process started some other way (asyncio)
    Launcher(log_dir)               components started one by one, stopped together
                                    (`.start(["scheduling-api"], name=, env=)`,
                                    `.add(component)`, `.stop_all()`)
    Stack(Settings(...))            the whole system (system.py): Redis, scheduling-api,
                                    livekit-server, token-service(s), provider-sim,
                                    agent worker(s); `.urls`, `.component(name)`,
                                    `.restart(name)`, `.scheduling_book()`, context manager
    scheduling_api_env(redis, tokens)  what a scheduling-api process needs
    SchedulingBook(url, token)      the test-side client of the scheduling API
                                    (scheduling.py): availability, book, bookings

A component is built, then `.launch(timeout)` (start + wait ready), `.stop()`; a stopped
one launches again on the same port. Pytest fixtures over these live in the root
conftest.py (`redis_server`, `private_redis`, `services`, `session_services`) and
tests/conftest.py (`livekit_server`, `call_stack`, `call_stack_launcher`). Built on them:
tests/browser_harness.py (headless Chromium, a stand-in receptionist) and
tests/prometheus_server.py (Prometheus as a component).
"""

from call_sim.stack.processes import (
    LOOPBACK,
    Component,
    Launcher,
    StackError,
    console_script,
    die_with_parent,
    free_port,
    http_ok,
    pick_port,
    redis_ping,
    service,
)
from call_sim.stack.scheduling import SchedulingBook, scheduling_api_env
from call_sim.stack.servers import (
    LiveKitServer,
    RedisServer,
    livekit_loopback_config,
    livekit_server,
    redis_server,
)
from call_sim.stack.system import STANDARD_PORTS, Stack, StackOptions, StackUrls

__all__ = [
    "LOOPBACK",
    "STANDARD_PORTS",
    "Component",
    "Launcher",
    "LiveKitServer",
    "RedisServer",
    "SchedulingBook",
    "Stack",
    "StackError",
    "StackOptions",
    "StackUrls",
    "console_script",
    "die_with_parent",
    "free_port",
    "http_ok",
    "livekit_loopback_config",
    "livekit_server",
    "pick_port",
    "redis_ping",
    "redis_server",
    "scheduling_api_env",
    "service",
]
