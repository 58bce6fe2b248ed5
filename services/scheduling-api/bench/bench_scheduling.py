"""Benchmark: availability and booking throughput against a bare FastAPI endpoint.

Run with `make bench-scheduling`. Everything runs on loopback in a temporary folder:
its own redis-server (AOF on, `appendfsync always`, as recommended for production), one
single-worker `scheduling-api` process, and a bare FastAPI app served by uvicorn with the
same settings. `wrk` drives each scenario at 32 connections for a fixed duration:

- bare:         GET /ping on the bare app (the baseline; same machine, same run)
- availability: GET bright-smile availability for a cleaning over 7 days, against a book
                that already holds a realistic load of bookings
- avail-uncached: the same against a second process with AVAILABILITY_CACHE_SECONDS=0,
                so every request reads the bookings from Redis
- booking:      POST bookings, every request a distinct free slot and a new
                Idempotency-Key (a bench clinic with many providers supplies the slots)

It prints req/s, p50 and p99 per scenario and the availability/bare ratio. The issue's
target: availability >= 50 % of bare, availability p99 < 25 ms.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import yaml
from call_sim.stack import Component, Launcher, StackError, free_port, http_ok, redis_server
from scheduling_api.config import PACKAGED_CLINICS
from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.slot_ids import SlotIdSigner, SlotRef
from scheduling_api.domain.slots import SlotQuery, earliest_bookable, find_slots

CONNECTIONS = 32
DURATION_SECONDS = 5
ROUNDS = 3
WARMUP_SECONDS = 2
TOKEN = "bench-token"
SLOT_SECRET = "bench-slot-secret-0123456789abcdef"
BENCH_PROVIDERS = 40
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SCENARIOS = ("bare", "availability", "avail-uncached", "booking")

BOOKING_SCRIPT = r"""
-- Each request books the next pre-signed slot with a fresh Idempotency-Key.
local slots = {}
for line in io.lines(os.getenv("BENCH_SLOTS_FILE")) do slots[#slots + 1] = line end
local next_slot = 0
local run = tostring(os.time())
local threads = {}
created, conflicts, other = 0, 0, 0

setup = function(thread)
  threads[#threads + 1] = thread
end

request = function()
  next_slot = next_slot + 1
  local slot = slots[((next_slot - 1) % #slots) + 1]
  local body = '{"slot_id":"' .. slot .. '","patient":{"name":"Bench Patient",' ..
    '"phone":"+15125550199"},"source":"bench"}'
  wrk.headers["Idempotency-Key"] = run .. "-" .. next_slot
  return wrk.format("POST", nil, nil, body)
end

response = function(status, headers, body)
  if status == 201 then created = created + 1
  elseif status == 409 then conflicts = conflicts + 1
  else other = other + 1 end
end

done = function(summary, latency, requests)
  local c, k, o = 0, 0, 0
  for _, thread in ipairs(threads) do
    c = c + thread:get("created")
    k = k + thread:get("conflicts")
    o = o + thread:get("other")
  end
  io.write(string.format("BOOKING_OUTCOMES created=%d conflict=%d other=%d\n", c, k, o))
end
"""


def serve_bare(port: int) -> None:
    """The baseline: the smallest FastAPI endpoint, served exactly like scheduling-api."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"status": "ok"}

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=10,
    )


def bench_clinic(base: Clinic) -> dict[str, Any]:
    """Bright Smile with many dentists open every day, so a run never runs out of slots."""
    document: dict[str, Any] = base.model_dump(mode="json")
    every_day = {
        day: [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    document.update(
        clinic_id="bench-clinic",
        name="Bench Dental",
        hours=every_day,
        holidays=[],
        providers=[
            {
                "provider_id": f"dentist-{n:02d}",
                "name": f"Dentist {n}",
                "role": "dentist",
                "appointment_types": ["exam", "cleaning"],
                "hours": every_day,
            }
            for n in range(BENCH_PROVIDERS)
        ],
        appointment_types=[
            t
            for t in document["appointment_types"]
            if t["appointment_type_id"] in ("exam", "cleaning")
        ],
    )
    return document


def signed_slots(clinic: Clinic, type_id: str, count: int) -> list[str]:
    """Distinct free slot ids, computed and signed exactly as the service would."""
    now = datetime.now(UTC) + timedelta(hours=3)
    appointment_type = clinic.appointment_types_by_id[type_id]
    query = SlotQuery(
        clinic, appointment_type, clinic.providers_for(type_id), earliest_bookable(now, 0)
    )
    today = now.astimezone(clinic.tz).date()
    horizon = today + timedelta(days=clinic.booking_rules.max_days_ahead - 1)
    slots = find_slots(query, today, horizon, {}, count)
    signer = SlotIdSigner(SLOT_SECRET.encode())
    return [
        signer.sign(SlotRef(clinic.clinic_id, s.provider_id, s.appointment_type_id, s.start))
        for s in slots
    ]


def prefill_bright_smile(base_url: str) -> int:
    """Book every fifth free cleaning, exam and filling over two weeks (a busy clinic)."""
    booked = 0
    with httpx.Client(base_url=base_url, headers=AUTH, timeout=10) as client:
        for type_id in ("cleaning", "exam", "filling"):
            response = client.get(
                "/v1/clinics/bright-smile/availability",
                params={"appointment_type": type_id, "days": 14, "limit": 100},
            )
            for index, slot in enumerate(response.json()["slots"]):
                if index % 5:
                    continue
                result = client.post(
                    "/v1/clinics/bright-smile/bookings",
                    json={
                        "slot_id": slot["slot_id"],
                        "patient": {"name": "Prefill", "phone": "+15125550100"},
                    },
                    headers={"Idempotency-Key": f"prefill-{type_id}-{index}"},
                )
                booked += result.status_code == 201
    return booked


@dataclass
class WrkResult:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    extra: str = ""


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if match is None:
        raise ValueError(f"cannot read latency {text!r}")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def run_wrk(
    name: str,
    url: str,
    *,
    duration: int,
    headers: dict[str, str] | None = None,
    script: Path | None = None,
    env: dict[str, str] | None = None,
) -> WrkResult:
    command = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{duration}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for key, value in (headers or {}).items():
        command += ["-H", f"{key}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    non_2xx_match = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    outcomes = re.search(r"BOOKING_OUTCOMES (.*)", output)
    return WrkResult(
        name,
        rps,
        p50,
        p99,
        int(non_2xx_match.group(1)) if non_2xx_match else 0,
        outcomes.group(1) if outcomes else "",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=DURATION_SECONDS, help="seconds per run")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="interleaved rounds")
    parser.add_argument("--serve-bare", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.serve_bare)
        return
    if shutil.which("wrk") is None or shutil.which("redis-server") is None:
        raise SystemExit("needs wrk and redis-server on PATH (make setup installs them)")

    workdir = Path(tempfile.mkdtemp(prefix="bench-scheduling-"))
    launcher = Launcher(workdir)
    try:
        redis = launcher.add(redis_server(workdir / "redis", persistent=True), timeout=10)
        clinics_dir = workdir / "clinics"
        clinics_dir.mkdir()
        shutil.copy(PACKAGED_CLINICS / "bright-smile.yaml", clinics_dir)
        bright_smile = Clinic.model_validate(
            yaml.safe_load((PACKAGED_CLINICS / "bright-smile.yaml").read_text())
        )
        bench = Clinic.model_validate(bench_clinic(bright_smile))
        (clinics_dir / "bench-clinic.yaml").write_text(yaml.safe_dump(bench_clinic(bright_smile)))
        api_env = {
            "REDIS_URL": redis.url,
            "SCHEDULING_API_TOKENS": TOKEN,
            "SLOT_ID_SECRET": SLOT_SECRET,
            "CLINICS_CONFIG": str(clinics_dir),
            "LOG_LEVEL": "INFO",
        }
        api = launcher.start(
            ["scheduling-api"], name="scheduling-api", env=api_env, ready_path="/readyz"
        ).base_url
        bare_port = free_port()
        bare = launcher.add(
            Component(
                name="bare-fastapi",
                argv=[sys.executable, __file__, "--serve-bare", str(bare_port)],
                env=dict(os.environ),
                log_path=workdir / "bare.log",
                ready=http_ok(f"http://127.0.0.1:{bare_port}/ping"),
                address=f"http://127.0.0.1:{bare_port}",
                port=bare_port,
            )
        ).base_url
        uncached = launcher.start(
            ["scheduling-api"],
            name="scheduling-api-uncached",
            env={**api_env, "AVAILABILITY_CACHE_SECONDS": "0"},
            ready_path="/readyz",
        ).base_url

        prefilled = prefill_bright_smile(api)
        slot_ids = signed_slots(bench, "exam", 200_000)
        script = workdir / "booking.lua"
        script.write_text(BOOKING_SCRIPT)

        query = "/v1/clinics/bright-smile/availability?appointment_type=cleaning&days=7"
        sample = httpx.get(f"{api}{query}", headers=AUTH).json()
        booking_url = f"{api}/v1/clinics/bench-clinic/bookings"
        booking_headers = {**AUTH, "Content-Type": "application/json"}
        for url, headers in (
            (f"{bare}/ping", {}),
            (f"{api}{query}", AUTH),
            (f"{uncached}{query}", AUTH),
        ):
            run_wrk("warm-up", url, duration=WARMUP_SECONDS, headers=headers)
        # Rounds interleave the scenarios so that load from other processes on the machine
        # hits them alike; each round books its own slice of never-booked slots.
        rounds: dict[str, list[WrkResult]] = {name: [] for name in SCENARIOS}
        slice_size = len(slot_ids) // args.rounds
        for round_number in range(args.rounds):
            rounds["bare"].append(run_wrk("bare", f"{bare}/ping", duration=args.duration))
            rounds["availability"].append(
                run_wrk("availability", f"{api}{query}", duration=args.duration, headers=AUTH)
            )
            rounds["avail-uncached"].append(
                run_wrk(
                    "avail-uncached", f"{uncached}{query}", duration=args.duration, headers=AUTH
                )
            )
            slots_file = workdir / f"slots-{round_number}.txt"
            first = round_number * slice_size
            slots_file.write_text("\n".join(slot_ids[first : first + slice_size]) + "\n")
            rounds["booking"].append(
                run_wrk(
                    "booking",
                    booking_url,
                    duration=args.duration,
                    headers=booking_headers,
                    script=script,
                    env={"BENCH_SLOTS_FILE": str(slots_file)},
                )
            )
        report(rounds, prefilled, len(sample["slots"]), slice_size, args.duration)
    except StackError as error:
        raise SystemExit(str(error)) from None
    finally:
        launcher.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


def median_result(results: list[WrkResult]) -> WrkResult:
    """The run with the median throughput (its own latencies go with it)."""
    ordered = sorted(results, key=lambda r: r.requests_per_second)
    return ordered[len(ordered) // 2]


def median_ratio(rounds: dict[str, list[WrkResult]], name: str) -> tuple[float, list[float]]:
    """Median over rounds of a scenario's throughput over bare's in the same round."""
    ratios = sorted(
        result.requests_per_second / bare.requests_per_second
        for result, bare in zip(rounds[name], rounds["bare"], strict=True)
    )
    return ratios[len(ratios) // 2], ratios


def report(
    rounds: dict[str, list[WrkResult]],
    prefilled: int,
    slots_per_answer: int,
    slots_per_round: int,
    duration: int,
) -> None:
    medians = {name: median_result(results) for name, results in rounds.items()}
    print()
    print(
        f"scheduling-api benchmark: wrk 1 thread, {CONNECTIONS} connections, "
        f"{len(rounds['bare'])} interleaved rounds of {duration}s per scenario (median run "
        "shown); one uvicorn worker per server; redis AOF appendfsync always"
    )
    print(
        f"availability: bright-smile cleaning over 7 days, {slots_per_answer} slots per answer, "
        f"{prefilled} bookings prefilled; avail-uncached: same, AVAILABILITY_CACHE_SECONDS=0 "
        f"(Redis read on every request); booking: a fresh slot and Idempotency-Key per "
        f"request ({slots_per_round} pre-signed slots per round)"
    )
    print()
    header = f"{'scenario':<16}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}{'vs bare':>9}"
    print(f"{header}  notes")
    for name, result in medians.items():
        ratio = median_ratio(rounds, name)[0]
        print(
            f"{name:<16}{result.requests_per_second:>9.0f}{result.p50_ms:>9.2f}"
            f"{result.p99_ms:>9.2f}{result.non_2xx:>9}{ratio:>9.0%}  {result.extra}"
        )
    ratio, ratios = median_ratio(rounds, "availability")
    p99 = medians["availability"].p99_ms
    print()
    each_round = ", ".join(f"{r:.0%}" for r in ratios)
    verdict = "met" if ratio >= 0.5 else "MISSED"
    print(f"target availability >= 50% of bare: {ratio:.0%} (rounds: {each_round}) -> {verdict}")
    print(f"target availability p99 < 25 ms: {p99:.1f} ms -> {'met' if p99 < 25 else 'MISSED'}")


if __name__ == "__main__":
    main()
