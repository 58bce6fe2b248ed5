"""`call-sim`: whole calls through the real system on this machine, offline.

    call-sim run SCENARIO|all [--report out.json]   start the stack, run, report, stop
    call-sim demo                                   the booking call, explained (make demo)
    call-sim dev [--scenario NAME]                  leave the stack up for a browser (make dev)
    call-sim bench [--levels 1,2,4,...] [--job-executor process|thread]
                                                    concurrent calls against one worker
    call-sim list                                   the packaged scenarios

Exit status: 0 when every scenario passed, 1 when one failed, 2 when the stack or the
input was wrong, 128+N when stopped by signal N. Everything started is stopped on the way
out, also on Ctrl-C, SIGTERM or a crash.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from call_sim import catalog, render
from call_sim.config import ProviderProfile, Settings, SttMode, TtsMode
from call_sim.console import Console
from call_sim.floor import webrtc_floor, with_floor
from call_sim.logs import configure_logging
from call_sim.runner import ScenarioRunner
from call_sim.scenario import CallScenario, CallScenarioError
from call_sim.stack import Stack, StackError, StackOptions
from call_sim.voice import CallerVoice

EXIT_FAILED = 1
EXIT_BAD_SETUP = 2


def _exit_on_signal(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _install_signal_handlers() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C does, so every `finally` stops the stack."""
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)


def _start(stack: Stack) -> None:
    atexit.register(stack.stop)  # the last resort; `stop` is idempotent
    stack.start()


def _write_report(path: Path | None, data: Any, console: Console) -> None:
    if path is None:
        return
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    console.ok("report", str(path))


async def _run_all(
    stack: Stack, settings: Settings, scenarios: list[CallScenario], console: Console
) -> list[dict[str, Any]]:
    voice = await asyncio.to_thread(CallerVoice.load)
    runner = ScenarioRunner(stack, settings, voice, console)
    reports = []
    for scenario in scenarios:
        report = await runner.run(scenario)
        reports.append(report)
        (console.ok if report["passed"] else console.fail)("scenario", render.summary_line(report))
    return reports


def command_run(
    settings: Settings,
    names: str,
    report_path: Path | None,
    console: Console,
    channel: str | None = None,
) -> int:
    chosen = catalog.names() if names == "all" else [names]
    scenarios = [catalog.load(name) for name in chosen]
    if channel is not None:
        scenarios = [scenario.model_copy(update={"channel": channel}) for scenario in scenarios]
    stack = Stack(
        settings, console, StackOptions(scenario_yaml=scenarios[0].provider_script_yaml())
    )
    try:
        _start(stack)
        reports = asyncio.run(_run_all(stack, settings, scenarios, console))
        if len(reports) == 1:
            console.say()
            console.say(render.full(reports[0]))
        _write_report(report_path, reports[0] if len(reports) == 1 else reports, console)
    finally:
        stack.stop()
    return 0 if all(report["passed"] for report in reports) else EXIT_FAILED


def command_demo(settings: Settings, console: Console) -> int:
    scenario = catalog.load("booking")
    console.say(render.heading("Bright Smile receptionist — a whole call through the real system"))
    console.say(
        "Starting Redis, the scheduling API, the token service, provider-sim, a LiveKit\n"
        "server and one agent worker on 127.0.0.1. A simulated caller (Piper voice, LiveKit\n"
        "rtc SDK) then books a cleaning through the receptionist in real time."
    )
    stack = Stack(settings, console, StackOptions(scenario_yaml=scenario.provider_script_yaml()))
    try:
        _start(stack)
        reports = asyncio.run(_run_all(stack, settings, [scenario], console))
        report = reports[0]
        floor = asyncio.run(
            webrtc_floor(
                stack.urls.livekit_ws, stack.livekit_api_key, stack.livekit_secret, console
            )
        )
        if floor is not None:
            report = with_floor(report, floor)
        report_path = stack.workdir / "booking-report.json"
        console.say()
        console.say(render.full(report))
        console.say()
        _write_report(report_path, report, console)
        console.say(f"Logs of every component: {stack.workdir / 'logs'}")
    finally:
        stack.stop()
    return 0 if report["passed"] else EXIT_FAILED


def _dev_settings(settings: Settings) -> Settings:
    """A person calls from a browser: recognise their words and speak real speech, unless
    CALL_SIM_STT_MODE / CALL_SIM_TTS_MODE say otherwise."""
    update: dict[str, Any] = {}
    if "CALL_SIM_STT_MODE" not in os.environ:
        update["stt_mode"] = SttMode.POCKETSPHINX
    if "CALL_SIM_TTS_MODE" not in os.environ:
        update["tts_mode"] = TtsMode.PIPER
    return settings.model_copy(update=update)


def _dev_instructions(stack: Stack, scenario: CallScenario, settings: Settings) -> str:
    urls = stack.urls
    web = (settings.web_client_dir / "index.html").is_file()
    lines = [
        render.heading("The stack is running — call the receptionist"),
        f"  Web page (call from a browser)  {urls.token_service}/"
        + ("" if web else "   (build the web client first: `make web`)"),
        f"  Token endpoint                  POST {urls.token_service}/v1/token"
        ' {"clinic_id": "bright-smile"}',
        f"  Scheduling API docs             {urls.scheduling_api}/docs"
        f"   (Authorization: Bearer {stack.scheduling_token})",
        f"  LiveKit server                  {urls.livekit_ws}"
        f"   (key {stack.livekit_api_key}, secret {stack.livekit_secret})",
        f"  Agent worker                    {urls.worker_health}/worker"
        f"   metrics {urls.worker_metrics}",
    ]
    if urls.provider_sim is not None:
        lines += [
            f"  provider-sim                    {urls.provider_sim}/sim/state"
            f"   (STT {settings.stt_mode}, TTS {settings.tts_mode})",
            f"  The model is scripted: it plays scenario '{scenario.name}' whatever you say.",
            f"  Load another script: curl --data-binary @my.yaml {urls.provider_sim}/sim/scenario",
        ]
        if scenario.talk_to_it:
            lines += ["", "  How to talk to it:"]
            lines += [f"    {line}" for line in scenario.talk_to_it.splitlines()]
    else:
        lines.append("  Providers                       the REAL Deepgram, OpenAI and Cartesia")
    lines += [
        "",
        "  Find a booking by the number it read back (ten digits, no spaces):",
        f"    curl -H 'Authorization: Bearer {stack.scheduling_token}' "
        f"'{urls.scheduling_api}/v1/clinics/{scenario.clinic}/bookings?phone=4155550132'",
        "",
        f"  Logs                            {stack.workdir / 'logs'}",
        "  Press Ctrl-C to stop everything.",
    ]
    return "\n".join(lines)


@contextlib.contextmanager
def _ctrl_c_reaches_only_us() -> Iterator[None]:
    """Make call-sim the terminal's foreground process group while it runs, as a shell does
    for a job, and give the terminal back afterwards.

    Ctrl-C interrupts the whole foreground group, and make dies of that SIGINT whatever its
    recipe does ("make: *** [dev] Error 130"), although stopping is how `make dev` is meant
    to end. With a group of its own, call-sim alone gets Ctrl-C, stops everything and exits
    0, and make exits 0 after it. The components run in sessions of their own anyway.
    Nothing changes without a terminal, or when call-sim is not in its foreground.
    """
    terminal = sys.stdin.fileno()
    try:
        parent_group = os.getpgrp()
        ours = os.isatty(terminal) and os.tcgetpgrp(terminal) == parent_group
    except OSError:
        ours = False
    if ours:
        try:
            os.setpgid(0, 0)  # EPERM for a session leader, which has the terminal anyway
        except OSError:
            ours = False
    if ours:
        _set_foreground(terminal, os.getpgrp())
    try:
        yield
    finally:
        if ours:
            _set_foreground(terminal, parent_group)


def _set_foreground(terminal: int, group: int) -> None:
    """tcsetpgrp from a background group sends SIGTTOU, which would stop us: ignore it."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):  # the parent's group may be gone already
            os.tcsetpgrp(terminal, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def command_dev(settings: Settings, scenario_name: str, console: Console) -> int:
    """Run the stack until Ctrl-C, which is the normal way to end it: exit status 0."""
    settings = _dev_settings(settings)
    scenario = catalog.load(scenario_name)
    stack = Stack(
        settings,
        console,
        StackOptions(
            scenario_yaml=scenario.provider_script_yaml(),
            standard_ports=settings.dev_standard_ports,
        ),
    )
    with _ctrl_c_reaches_only_us():
        try:
            _start(stack)
            console.say()
            console.say(_dev_instructions(stack, scenario, settings))
            threading.Event().wait()  # until Ctrl-C (or SIGTERM, which unwinds)
        except KeyboardInterrupt:
            pass  # at any moment, also while starting up: that is how dev ends
        finally:
            stack.stop()
        console.say(f"call-sim dev stopped, logs in {stack.workdir / 'logs'}")
    return 0


def command_list(console: Console) -> int:
    for name in catalog.names():
        scenario = catalog.load(name)
        console.say(f"  {name:<22} {scenario.description}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="call-sim", description="Simulated calls through the whole Bright Smile stack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="start the stack, run a scenario (or 'all'), stop")
    run.add_argument("scenario", help="a packaged scenario name, a YAML file, or 'all'")
    run.add_argument("--report", type=Path, help="write the JSON report to this file")
    run.add_argument(
        "--channel",
        choices=("web", "phone"),
        help="call as a browser or as a phone caller (SIP participant, 8 kHz μ-law line); "
        "default: each scenario's own",
    )
    commands.add_parser("demo", help="the booking call with transcript and latency table")
    dev = commands.add_parser("dev", help="leave the stack running for a browser call")
    dev.add_argument("--scenario", default="booking", help="the model script provider-sim plays")
    commands.add_parser("list", help="list the packaged scenarios")
    bench = commands.add_parser("bench", help="concurrent calls against one worker")
    bench.add_argument("--levels", default="1,2,4,8,12,16", help="concurrent calls per level")
    bench.add_argument("--scenario", default="bench", help="the scenario every caller runs")
    bench.add_argument("--report", type=Path, help="write the JSON results to this file")
    bench.add_argument(
        "--job-executor",
        choices=("process", "thread"),
        help="the worker's JOB_EXECUTOR (default: CALL_SIM_JOB_EXECUTOR, else process)",
    )
    for command in (run, dev, bench, commands.choices["demo"]):
        command.add_argument(
            "--providers",
            choices=[profile.value for profile in ProviderProfile],
            help="provider-sim's latency profile (default: CALL_SIM_PROVIDER_PROFILE, else "
            "typical)",
        )
    callers = commands.add_parser("callers", help=argparse.SUPPRESS)
    callers.add_argument("--spec", type=Path, required=True)
    return parser


def run() -> None:
    args = _parser().parse_args()
    settings = Settings()
    if getattr(args, "providers", None):
        settings = settings.model_copy(update={"provider_profile": ProviderProfile(args.providers)})
    configure_logging(settings.log_level)
    _install_signal_handlers()
    console = Console()
    try:
        if args.command == "run":
            code = command_run(settings, args.scenario, args.report, console, args.channel)
        elif args.command == "demo":
            code = command_demo(settings, console)
        elif args.command == "dev":
            code = command_dev(settings, args.scenario, console)
        elif args.command == "list":
            code = command_list(console)
        elif args.command == "bench":
            from call_sim.bench import command_bench

            levels = [int(level) for level in args.levels.split(",") if level.strip()]
            if args.job_executor:
                settings = settings.model_copy(update={"job_executor": args.job_executor})
            code = command_bench(settings, args.scenario, levels, args.report, console)
        else:
            from call_sim.bench import command_callers

            code = command_callers(args.spec)
    except (StackError, CallScenarioError) as error:
        console.fail("call-sim", str(error))
        code = EXIT_BAD_SETUP
    except KeyboardInterrupt:
        console.fail("call-sim", "interrupted; everything was stopped")
        code = 128 + signal.SIGINT
    except SystemExit as stopped:  # SIGTERM or SIGHUP, see _exit_on_signal
        console.fail("call-sim", "stopped by a signal; everything was stopped")
        code = stopped.code if isinstance(stopped.code, int) else EXIT_FAILED
    _exit(code)


def _exit(code: int) -> None:
    """Exit without the interpreter's teardown: the LiveKit rtc FFI's runtime threads can
    abort the process while Python unloads it ("panic in a function that cannot unwind"),
    which would turn a passed run into a crash. Every component is already stopped here."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
