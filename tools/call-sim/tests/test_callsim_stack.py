"""Starting and stopping stack processes: health checks, failures, process groups."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from call_sim.config import Settings
from call_sim.stack import (
    Component,
    Launcher,
    Stack,
    StackError,
    StackOptions,
    livekit_loopback_config,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
LIVEKIT = Path(
    os.environ.get("LIVEKIT_SERVER_BIN", REPO_ROOT / ".tools" / "bin" / "livekit-server")
)

# a parent that starts a grandchild and then reports ready by writing a file
PARENT = """
import subprocess, sys, time, pathlib
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
pathlib.Path(sys.argv[1]).write_text(str(child.pid))
time.sleep(300)
"""


def python_component(
    tmp_path: Path, name: str, code: str, *args: str, ready: Callable[[], bool] = lambda: False
) -> Component:
    """`python -c code args` as a component that is ready when `ready` says so."""
    return Component(
        name=name,
        argv=[sys.executable, "-c", code, *args],
        env=dict(os.environ),
        log_path=tmp_path / f"{name}.log",
        ready=ready,
        address="-",
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split()[2] == "Z")


def test_stopping_a_component_stops_its_whole_process_group(tmp_path: Path) -> None:
    ready = tmp_path / "child.pid"
    component = python_component(tmp_path, "parent", PARENT, str(ready), ready=ready.exists)
    component.start()
    component.wait_ready(timeout=20)
    child = int(ready.read_text())
    assert component.pid is not None
    assert _alive(component.pid)
    assert _alive(child)
    component.stop(timeout=5)
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the grandchild outlived the stack"
    assert not component.running()


def test_a_component_that_dies_fails_with_its_log(tmp_path: Path) -> None:
    code = "import sys; print('bad config: PORT'); sys.exit(3)"
    component = python_component(tmp_path, "broken", code)
    component.start()
    with pytest.raises(StackError, match=r"(?s)broken exited with status 3.*bad config: PORT"):
        component.wait_ready(timeout=20)


def test_a_component_that_never_answers_times_out(tmp_path: Path) -> None:
    component = python_component(tmp_path, "silent", "import time; time.sleep(60)")
    component.start()
    try:
        with pytest.raises(StackError, match="did not become ready within 1 s"):
            component.wait_ready(timeout=1)
    finally:
        component.stop(timeout=5)


def test_a_launcher_stops_all_it_started_and_forgets_them(tmp_path: Path) -> None:
    launcher = Launcher(tmp_path)
    sleep = "import time; time.sleep(60)"
    started = [
        launcher.add(python_component(tmp_path, name, sleep, ready=lambda: True), timeout=20)
        for name in ("first", "second")
    ]
    assert all(component.running() for component in started)
    launcher.stop_all()
    assert not any(component.running() for component in started)
    assert launcher.started == []


def test_a_missing_binary_fails_before_anything_starts(tmp_path: Path) -> None:
    settings = Settings(
        workdir=tmp_path, providers="simulated", livekit_server_bin=tmp_path / "missing"
    )
    stack = Stack(settings)
    with pytest.raises(StackError, match="make livekit-server"):
        stack.start()
    assert stack.components == {}


@pytest.mark.slow
@pytest.mark.skipif(not LIVEKIT.is_file(), reason="needs `make livekit-server`")
def test_a_failed_start_stops_what_was_already_running(tmp_path: Path) -> None:
    settings = Settings(workdir=tmp_path, providers="simulated")
    stack = Stack(settings, options=StackOptions(extra_worker_env={"LOG_LEVEL": "LOUD"}))
    with pytest.raises(StackError, match=r"(?s)agent-worker exited.*LOG_LEVEL|log_level"):
        stack.start()
    started = list(stack.components.values())
    assert [c.name for c in started][:2] == ["redis-server", "scheduling-api"]
    assert "agent-worker" in stack.components
    assert not any(component.running() for component in started)


def test_livekit_config_keeps_everything_on_loopback() -> None:
    config = json.loads(livekit_loopback_config(7880, 7882, "key", "s" * 40, agent_target_load=1.0))
    assert config["bind_addresses"] == ["127.0.0.1"]
    assert config["rtc"]["node_ip"] == "127.0.0.1"
    assert config["rtc"]["use_external_ip"] is False
    assert config["rtc"]["stun_servers"] == ["127.0.0.1:3478"]
    assert config["agents"] == {"target_load": 1.0}


# a launcher that starts one component and then waits to be killed
LAUNCHER = """
import os, sys, time, pathlib
from call_sim.stack import Component
component = Component(
    name="sleeper",
    argv=[sys.executable, "-c", "import time; time.sleep(300)"],
    env=dict(os.environ),
    log_path=pathlib.Path(sys.argv[1]).with_suffix(".log"),
    ready=lambda: True,
    address="-",
)
component.start()
pathlib.Path(sys.argv[1]).write_text(str(component.pid))
time.sleep(300)
"""


@pytest.mark.skipif(sys.platform != "linux", reason="parent-death signal is Linux-only")
def test_a_component_dies_with_the_process_that_started_it(tmp_path: Path) -> None:
    """Even a SIGKILLed call-sim leaves nothing running (no preexec_fn: see processes.py)."""
    import subprocess

    ready = tmp_path / "sleeper.pid"
    launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(ready)])
    try:
        deadline = time.monotonic() + 20
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        sleeper = int(ready.read_text())
        assert _alive(sleeper)
        launcher.kill()
        launcher.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _alive(sleeper) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(sleeper), "the component outlived the process that started it"
    finally:
        launcher.kill()


def test_provider_sim_gets_the_profile_and_only_the_latencies_set_on_their_own(
    tmp_path: Path,
) -> None:
    fast = Stack(Settings(workdir=tmp_path, provider_profile="fast")).sim_latency_env()
    assert fast["SIM_PROVIDER_PROFILE"] == "fast"
    assert "SIM_LLM_TTFT_MS" not in fast  # provider-sim takes the profile's figure
    typical = Stack(Settings(workdir=tmp_path, llm_ttft_ms=250)).sim_latency_env()
    assert typical["SIM_PROVIDER_PROFILE"] == "typical"
    assert typical["SIM_LLM_TTFT_MS"] == "250.0"
