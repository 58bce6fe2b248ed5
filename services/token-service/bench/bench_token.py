"""Benchmark: tokens/s and latency of `POST /v1/token` against minting in a bare loop.

Run with `make bench-token`. In one run it:
  1. starts its own redis-server and one token-service worker on loopback (rate limit
     set high enough never to refuse), plus a bare FastAPI endpoint that does no work;
  2. drives each with wrk (POST with a Lua script) at a fixed concurrency;
  3. mints the same token with `AccessToken(...)...to_jwt()` in a bare loop, and with
     the service's own claims builder and minter (what the endpoint runs, minus HTTP);
and prints tokens/s and p50/p99 for each, with the ratios. Figures from different
machines or runs are not comparable; the ratios within one run are the result.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
from livekit import api
from token_service.adapters.minting import TokenMinter
from token_service.domain.token_claims import TokenPolicy, build_token_claims
from token_service.domain.token_request import TokenRequest

VENV_BIN = Path(sys.executable).parent
LIVEKIT_URL = "ws://127.0.0.1:7880"
API_KEY = "benchkey"
API_SECRET = "bench-secret-bench-secret-bench-secret-0123"
AGENT_NAME = "bright-smile-receptionist"
# What LiveKit's client SDKs send when the page names our agent.
REQUEST_BODY = {
    "participant_name": "Bench Caller",
    "room_config": {"agents": [{"agent_name": AGENT_NAME}]},
}
WRK_SCRIPT = """
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""
BARE_APP = """
from fastapi import FastAPI
from fastapi.responses import JSONResponse
import uvicorn

app = FastAPI(telemetry={{"tracing": False, "metrics": False, "logs": False,
                          "operation_spans": False}})

@app.post("/bare")
async def bare() -> JSONResponse:
    return JSONResponse({{"ok": True}}, status_code=201)

uvicorn.run(app, host="127.0.0.1", port={port}, proxy_headers=False, access_log=False,
            log_level="warning")
"""


@dataclass
class Result:
    label: str
    per_second: float
    p50_seconds: float
    p99_seconds: float
    cpu_seconds_each: float
    note: str = ""


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used: unlike wall time, unmoved by other load."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check_url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"{what} exited with {process.returncode} before answering")
        try:
            if httpx.get(check_url, timeout=0.5).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    sys.exit(f"{what} did not answer {check_url} within 30 s")


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed (make setup installs it)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return process, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    process.kill()
    sys.exit("redis-server did not start")


def start_token_service(redis_url: str, log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "LIVEKIT_URL": LIVEKIT_URL,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
        "AGENT_NAME": AGENT_NAME,
        "REDIS_URL": redis_url,
        "RATE_LIMIT_REQUESTS": "1000000000",
        "RATE_LIMIT_WINDOW_SECONDS": "1",
        "RATE_LIMIT_BURST": "1000000000",
        "LOG_LEVEL": "INFO",
        "WEB_CLIENT_ENABLED": "false",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(VENV_BIN / "token-service")], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    wait_until(f"{base_url}/readyz", process, "token-service")
    return process, base_url


def start_bare_app() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", BARE_APP.format(port=port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    wait_until(f"{base_url}/bare", process, "bare FastAPI app")
    return process, base_url


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def check_issued_token(base_url: str) -> None:
    """Before timing anything: the service issues what the bare loop mints."""
    response = httpx.post(f"{base_url}/v1/token", json=REQUEST_BODY, timeout=5)
    if response.status_code != 201:
        sys.exit(f"token-service answered {response.status_code}: {response.text}")
    claims = jwt.decode(
        response.json()["participant_token"], API_SECRET, algorithms=["HS256"], issuer=API_KEY
    )
    assert claims["video"]["canPublishSources"] == ["microphone"]
    assert claims["roomConfig"]["agents"][0]["agentName"] == AGENT_NAME


_DURATION = re.compile(r"([\d.]+)(us|ms|s)$")


def _seconds(text: str) -> float:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"unexpected wrk duration {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value * {"us": 1e-6, "ms": 1e-3, "s": 1.0}[unit]


def run_wrk(
    label: str,
    url: str,
    body: str,
    server: subprocess.Popen[bytes],
    script_dir: Path,
    args: argparse.Namespace,
) -> Result:
    script = script_dir / f"{label.split()[0]}.lua"
    script.write_text(WRK_SCRIPT.format(body=json.dumps(body)))
    base = ["wrk", f"-t{args.threads}", f"-c{args.connections}", "--latency", "-s", str(script)]
    subprocess.run([*base, "-d2s", url], capture_output=True, check=True)  # warm-up
    cpu_before = process_cpu_seconds(server.pid)
    output = subprocess.run(
        [*base, f"-d{args.duration}s", url], capture_output=True, check=True, text=True
    ).stdout
    cpu_used = process_cpu_seconds(server.pid) - cpu_before
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _seconds(re.search(r"^\s+50%\s+(\S+)$", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _seconds(re.search(r"^\s+99%\s+(\S+)$", output, re.M).group(1))  # type: ignore[union-attr]
    failures = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    note = ""
    if failures:
        note += f" {failures.group(1)} non-2xx responses!"
    if errors:
        note += f" {errors.group(0)}"
    return Result(label, rate, p50, p99, cpu_used / requests, note.strip())


def _timed_loop(label: str, count: int, mint_one: Callable[[int], str]) -> Result:
    durations: list[float] = []
    cpu_started = time.process_time()
    started = time.perf_counter()
    for index in range(count):
        begin = time.perf_counter()
        mint_one(index)
        durations.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    cpu_each = (time.process_time() - cpu_started) / count
    cuts = statistics.quantiles(durations, n=100)
    return Result(label, count / elapsed, cuts[49], cuts[98], cpu_each)


def access_token_loop(count: int) -> Result:
    """The token the endpoint issues, minted with livekit-api's AccessToken in a plain loop."""
    room_config = api.RoomConfiguration(
        agents=[api.RoomAgentDispatch(agent_name=AGENT_NAME, metadata='{"clinic_id":"x"}')]
    )

    def mint_one(index: int) -> str:
        return (
            api.AccessToken(API_KEY, API_SECRET)
            .with_identity(f"caller-{index}")
            .with_name("Bench Caller")
            .with_grants(
                api.VideoGrants(
                    room_join=True,
                    room=f"call-{index}",
                    can_publish=True,
                    can_publish_sources=["microphone"],
                    can_subscribe=True,
                    can_publish_data=True,
                )
            )
            .with_room_config(room_config)
            .with_ttl(timedelta(seconds=900))
            .to_jwt()
        )

    return _timed_loop("bare loop: AccessToken.to_jwt()", count, mint_one)


def service_minter_loop(count: int) -> Result:
    """The same token through the service's own claims builder and minter (no HTTP)."""
    policy = TokenPolicy(AGENT_NAME, ("x",), timedelta(seconds=900))
    request = TokenRequest.model_validate(REQUEST_BODY)
    minter = TokenMinter(API_KEY, API_SECRET)

    def mint_one(index: int) -> str:
        return minter.mint(build_token_claims(request, policy)).jwt

    return _timed_loop("bare loop: claims + TokenMinter", count, mint_one)


def _fmt_latency(seconds: float) -> str:
    return f"{seconds * 1e6:,.0f} µs" if seconds < 1e-3 else f"{seconds * 1e3:,.1f} ms"


def report(results: list[Result], args: argparse.Namespace) -> None:
    access_token, ours, http, bare = results
    print()
    print(
        f"token-service benchmark — one uvicorn worker, wrk -t{args.threads} "
        f"-c{args.connections} -d{args.duration}s on loopback, {os.cpu_count()} CPUs"
    )
    print(f"{'':34}{'tokens/s':>10}{'p50':>11}{'p99':>11}{'CPU/token':>12}")
    for result in results:
        print(
            f"{result.label:34}{result.per_second:>10,.0f}"
            f"{_fmt_latency(result.p50_seconds):>11}{_fmt_latency(result.p99_seconds):>11}"
            f"{_fmt_latency(result.cpu_seconds_each):>12}"
            + (f"   {result.note}" if result.note else "")
        )
    print()
    print(
        "HTTP tokens/s ÷ AccessToken bare-loop tokens/s = "
        f"{http.per_second / access_token.per_second:.2f}"
    )
    print(
        f"HTTP tokens/s ÷ bare FastAPI requests/s        = {http.per_second / bare.per_second:.2f}"
    )
    rest = http.cpu_seconds_each - ours.cpu_seconds_each - bare.cpu_seconds_each
    print(
        f"server CPU per token {_fmt_latency(http.cpu_seconds_each)} = claims + minting "
        f"{_fmt_latency(ours.cpu_seconds_each)} + FastAPI/uvicorn "
        f"{_fmt_latency(bare.cpu_seconds_each)} + {_fmt_latency(rest)} for the rest "
        "(Redis rate-limit round trip, body parsing, metrics, log line)"
    )
    print(
        "p50/p99 over HTTP include queueing behind the other connections; CPU/token is the"
        " server process's own CPU, the figure least moved by other load on the machine"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--loop-tokens", type=int, default=20_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    with tempfile.TemporaryDirectory(prefix="bench-token-") as workdir:
        work = Path(workdir)
        redis, redis_url = start_redis(work)
        service = bare = None
        try:
            service, service_url = start_token_service(redis_url, work / "token-service.log")
            check_issued_token(service_url)
            http = run_wrk(
                "HTTP POST /v1/token",
                f"{service_url}/v1/token",
                json.dumps(REQUEST_BODY),
                service,
                work,
                args,
            )
            stop(service)
            bare, bare_url = start_bare_app()
            bare_result = run_wrk(
                "bare FastAPI POST (no work)", f"{bare_url}/bare", "{}", bare, work, args
            )
            stop(bare)
            # As the service does at startup: keep full collections off the long-lived heap.
            gc.freeze()
            loops = [access_token_loop(args.loop_tokens), service_minter_loop(args.loop_tokens)]
        finally:
            for process in (service, bare, redis):
                if process is not None:
                    stop(process)
    report([*loops, http, bare_result], args)


if __name__ == "__main__":
    main()
