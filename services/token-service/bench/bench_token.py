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
from call_sim.stack import Component, Launcher, StackError, free_port, redis_server
from livekit import api
from token_service.adapters.minting import TokenMinter
from token_service.domain.token_claims import TokenPolicy, build_token_claims
from token_service.domain.token_request import TokenRequest

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


def token_service_env(redis_url: str) -> dict[str, str]:
    return {
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


def bare_app(work: Path) -> Component:
    port = free_port()
    url = f"http://127.0.0.1:{port}/bare"
    return Component(
        name="bare-fastapi",
        argv=[sys.executable, "-c", BARE_APP.format(port=port)],
        env=dict(os.environ),
        log_path=work / "bare-fastapi.log",
        ready=lambda: httpx.get(url, timeout=0.5).status_code < 500,
        address=url,
        port=port,
    )


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
    server: Component,
    script_dir: Path,
    args: argparse.Namespace,
) -> Result:
    script = script_dir / f"{label.split()[0]}.lua"
    script.write_text(WRK_SCRIPT.format(body=json.dumps(body)))
    base = ["wrk", f"-t{args.threads}", f"-c{args.connections}", "--latency", "-s", str(script)]
    subprocess.run([*base, "-d2s", url], capture_output=True, check=True)  # warm-up
    cpu_before = process_cpu_seconds(server.pid or 0)
    output = subprocess.run(
        [*base, f"-d{args.duration}s", url], capture_output=True, check=True, text=True
    ).stdout
    cpu_used = process_cpu_seconds(server.pid or 0) - cpu_before
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
        launcher = Launcher(work)
        try:
            redis = launcher.add(redis_server(work / "redis"), timeout=10)
            service = launcher.start(
                ["token-service"],
                name="token-service",
                env=token_service_env(redis.url),
                ready_path="/readyz",
            )
            check_issued_token(service.base_url)
            http = run_wrk(
                "HTTP POST /v1/token",
                f"{service.base_url}/v1/token",
                json.dumps(REQUEST_BODY),
                service,
                work,
                args,
            )
            service.stop()
            bare = launcher.add(bare_app(work))
            bare_result = run_wrk(
                "bare FastAPI POST (no work)", f"{bare.address}", "{}", bare, work, args
            )
            bare.stop()
            # As the service does at startup: keep full collections off the long-lived heap.
            gc.freeze()
            loops = [access_token_loop(args.loop_tokens), service_minter_loop(args.loop_tokens)]
        except StackError as error:
            sys.exit(str(error))
        finally:
            launcher.stop_all()
    report([*loops, http, bare_result], args)


if __name__ == "__main__":
    main()
