"""The console script: listing, bad input, and a clean stop on Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

CALL_SIM = Path(sys.executable).parent / "call-sim"
REPO_ROOT = Path(__file__).resolve().parents[3]
LIVEKIT = Path(
    os.environ.get("LIVEKIT_SERVER_BIN", REPO_ROOT / ".tools" / "bin" / "livekit-server")
)


def test_list_names_every_packaged_scenario() -> None:
    done = subprocess.run([str(CALL_SIM), "list"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for name in ("booking", "slot-taken", "caller-silent", "scheduling-api-down"):
        assert name in done.stdout


def test_an_unknown_scenario_is_a_setup_error_and_starts_nothing(tmp_path: Path) -> None:
    env = {**os.environ, "CALL_SIM_WORKDIR": str(tmp_path)}
    done = subprocess.run(
        [str(CALL_SIM), "run", "no-such-call"], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 2
    assert "no scenario named 'no-such-call'" in done.stdout
    assert not (tmp_path / "logs").exists()


def _processes_using(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            environ = (entry / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(path) in command or str(path) in environ:
            found.append(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not LIVEKIT.is_file(), reason="needs `make livekit-server`")
def test_dev_stops_every_process_on_ctrl_c(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CALL_SIM_WORKDIR": str(tmp_path),
        "CALL_SIM_DEV_STANDARD_PORTS": "false",
        "CALL_SIM_PROVIDERS": "simulated",
        "CALL_SIM_STT_MODE": "scripted",
        "CALL_SIM_TTS_MODE": "synthetic",
    }
    process = subprocess.Popen(
        [str(CALL_SIM), "dev"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True
    )
    output: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            output.append(line)
            if "Press Ctrl-C" in line:
                break
        assert any("Press Ctrl-C" in line for line in output), "".join(output)
        assert any("Token endpoint" in line for line in output)
        running = _processes_using(tmp_path)
        assert len(running) >= 6, "every component runs with the workdir in its environment"
        process.send_signal(signal.SIGINT)
        try:
            rest, _ = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            logs = "\n".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
                for log in sorted((tmp_path / "logs").glob("*.log"))
            )
            pytest.fail(f"call-sim dev did not stop on Ctrl-C:\n{''.join(output)}\n{logs}")
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 128 + signal.SIGINT, "".join(output) + rest
    assert "agent-worker     stopped" in rest
    assert "redis-server     stopped" in rest
    time.sleep(0.5)
    assert _processes_using(tmp_path) == [], "a component outlived call-sim dev"
