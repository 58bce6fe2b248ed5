"""The console script: listing, bad input, and `make dev` stopped cleanly by Ctrl-C."""

from __future__ import annotations

import os
import pty
import select
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


class Terminal:
    """A pseudo-terminal running a command as its session's foreground job, the way a shell
    runs `make dev`: Ctrl-C typed here goes to the terminal's foreground process group."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.master, follower = pty.openpty()
        self.process = subprocess.Popen(
            ["setsid", "--ctty", *argv],
            stdin=follower,
            stdout=follower,
            stderr=follower,
            cwd=REPO_ROOT,
            env=env,
        )
        os.close(follower)
        self.output = ""

    def read_until(self, text: str, within: float) -> bool:
        deadline = time.monotonic() + within
        while text not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # every writer is gone
                    return text in self.output
                self.output += chunk.decode(errors="replace").replace("\r\n", "\n")
        return text in self.output

    def drain(self) -> None:
        """Read what is left once the command has exited."""
        self.read_until("\0", within=1)

    def type_ctrl_c(self) -> None:
        os.write(self.master, b"\x03")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        os.close(self.master)


@pytest.mark.slow
@pytest.mark.skipif(not LIVEKIT.is_file(), reason="needs `make livekit-server`")
def test_make_dev_ends_cleanly_on_ctrl_c_and_stops_every_process(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "CALL_SIM_WORKDIR": str(tmp_path),
        "CALL_SIM_DEV_STANDARD_PORTS": "false",
        "CALL_SIM_PROVIDERS": "simulated",
        "CALL_SIM_STT_MODE": "scripted",
        "CALL_SIM_TTS_MODE": "synthetic",
    }
    terminal = Terminal(["make", "--no-print-directory", "dev"], env)
    try:
        assert terminal.read_until("Press Ctrl-C", within=240), terminal.output
        assert "Token endpoint" in terminal.output
        running = _processes_using(tmp_path)
        assert len(running) >= 6, "every component runs with the workdir in its environment"
        terminal.type_ctrl_c()
        if not terminal.read_until("stopped, logs in", within=120):
            logs = "\n".join(
                f"--- {log.name}\n{log.read_text(errors='replace')[-1500:]}"
                for log in sorted((tmp_path / "logs").glob("*.log"))
            )
            pytest.fail(f"make dev did not stop on Ctrl-C:\n{terminal.output}\n{logs}")
        exit_code = terminal.process.wait(timeout=60)
        terminal.drain()
    finally:
        terminal.close()
    assert exit_code == 0, terminal.output
    assert "Error" not in terminal.output
    assert "interrupted" not in terminal.output
    assert f"stopped, logs in {tmp_path / 'logs'}" in terminal.output
    assert "agent-worker     stopped" in terminal.output
    assert "redis-server     stopped" in terminal.output
    time.sleep(0.5)
    assert _processes_using(tmp_path) == [], "a component outlived make dev"
