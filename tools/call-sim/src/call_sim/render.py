"""Plain-text views of a call report for the terminal. Pure (returns strings)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

WIDTH = 100


def heading(title: str) -> str:
    return f"── {title} " + "─" * max(0, WIDTH - len(title) - 4)


def _wrap(text: str, indent: int, width: int = WIDTH) -> str:
    words, lines, line = text.split(), [], ""
    for word in words:
        if line and len(line) + 1 + len(word) > width - indent:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    lines.append(line)
    return ("\n" + " " * indent).join(lines)


def transcript(report: Mapping[str, Any]) -> str:
    """What was said, as the agent recorded it, with the tools it ran in between."""
    entries: list[tuple[float, int, str, str]] = []
    for order, line in enumerate(report["transcript"]):
        speaker = "caller" if line["speaker"] == "caller" else "receptionist"
        text = line["text"] + (" [interrupted]" if line.get("interrupted") else "")
        entries.append((line["at_s"] or 0.0, order, speaker, text))
    for order, call in enumerate(report["tool_calls"]):
        arguments = call["arguments"]
        if len(arguments) > 70:
            arguments = arguments[:67] + "..."
        outcome = "FAILED: " + call["output"][:70] if call["is_error"] else "ok"
        entries.append(
            (call["at_s"] or 0.0, 1000 + order, "  tool", f"{call['name']} {arguments} → {outcome}")
        )
    lines = [heading(f"Transcript — {report['scenario']} ({report['providers']})")]
    for at, _, label, text in sorted(entries):
        lines.append(f"{at:7.1f} s  {label:<14}" + _wrap(text, 25))
    if report["ended_by"]:
        lines.append(f"{'':25}(the {report['ended_by']} hung up)")
    return "\n".join(lines)


def bookings(report: Mapping[str, Any]) -> str:
    lines = [heading("Bookings as stored in the scheduling API")]
    found = [b for per_phone in report["bookings"].values() for b in per_phone]
    if not found:
        lines.append("  (none for the phone numbers in this scenario)")
    for booking in found:
        patient = booking.get("patient") or {}
        lines += [
            f"  {booking['booking_id']}  status={booking['status']}"
            f"  source={booking.get('source')}",
            f"    {booking['appointment_type']} with {booking['provider_name']}: "
            f"{booking['start']} → {booking['end']}",
            f"    patient {patient.get('name')} {patient.get('phone')}"
            + (
                f"  (moved from {booking['rescheduled_from']})"
                if booking.get("rescheduled_from")
                else ""
            ),
        ]
    for phone, callbacks in report["callbacks"].items():
        for callback in callbacks:
            lines.append(
                f"  callback request {callback['callback_id']} for {phone}:"
                f" {callback.get('reason')}"
            )
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"


def latency_table(report: Mapping[str, Any]) -> str:
    latency = report["latency"]
    budget = latency["budget_ms"]
    profile = report.get("provider_latencies_ms") or {}
    if profile:
        subtitle = (
            f"simulated providers: STT {profile['stt_endpointing']:.0f}"
            f"+{profile['stt_final_delay']:.0f} ms, LLM TTFT {profile['llm_ttft']:.0f} ms"
            f" + {profile['llm_token_interval']:.1f} ms/token,"
            f" TTS TTFB {profile['tts_ttfb']:.0f} ms"
        )
    else:
        subtitle = "real providers"
    lines = [heading(f"Latency per caller turn (ms) — {subtitle}")]
    lines.append(f"  {'stage':<22}{'n':>3}{'p50':>8}{'p95':>8}   what")
    for row in latency["rows"]:
        lines.append(
            f"  {row['name']:<22}{row['n']:>3}{_ms(row['p50_ms']):>8}{_ms(row['p95_ms']):>8}"
            f"   {row['note']}"
        )
    turns = [t for t in report["turns"] if t["e2e_ms"] is not None]
    over = latency["turns_over_budget"]
    verdict = "within" if over == 0 else f"OVER on {over} of {len(turns)} turn(s)"
    lines.append(f"  end to end vs the {budget:.0f} ms budget: {verdict}")
    lines.append(llm_rounds_line(report["turns"]))
    if report.get("webrtc_floor") is not None:
        lines.append(webrtc_floor_line(report["webrtc_floor"]))
    if report.get("greeting_latency_ms") is not None:
        lines.append(
            f"  greeting: {report['greeting_latency_ms']:.0f} ms from the agent joining"
            " to its first audio"
        )
    stages = report["worker_metrics"]["receptionist_stage_latency_seconds"]
    counts = ", ".join(f"{stage} {values['count']}" for stage, values in stages.items())
    lines.append(f"  worker /metrics receptionist_stage_latency_seconds counts this call: {counts}")
    tools = report["worker_metrics"].get("tool_mean_ms") or {}
    if tools:
        means = ", ".join(f"{tool} {mean:.0f}" for tool, mean in tools.items())
        lines.append(f"  tool time, mean ms per call (in the agent leg of its turn): {means}")
    return "\n".join(lines)


def llm_rounds_line(turns: Sequence[Mapping[str, Any]]) -> str:
    """The LLM rounds each caller turn waited for (0: the agent answered from its own code,
    e.g. the commit on a yes), and the whole call's."""
    rounds = [t.get("llm_rounds") for t in turns]
    per_turn = ", ".join("—" if r is None else str(r) for r in rounds)
    total = sum(r for r in rounds if r is not None)
    return f"  LLM rounds on the caller's critical path, per turn: {per_turn} (whole call: {total})"


def webrtc_floor_line(floor: Mapping[str, Any]) -> str:
    """The bare transport measured in the same run, and the legs beside it."""

    def signed(value: float | None) -> str:
        return "—" if value is None else f"{value:+.0f}"

    return (
        f"  WebRTC floor (bare rtc publisher → subscriber, same SFU, this run): p50"
        f" {_ms(floor['p50_ms'])} / p95 {_ms(floor['p95_ms'])} ms one way (n={floor['n']},"
        f" lost {floor['lost']}); p50 over it: caller → STT {signed(floor['in_over_floor_ms'])},"
        f" agent → caller {signed(floor['out_over_floor_ms'])} ms"
    )


def checks(report: Mapping[str, Any]) -> str:
    lines = [heading("Checks")]
    for check in report["checks"]:
        mark = "✓" if check["passed"] else "✗"
        lines.append(f"  {mark} {check['check']} — {check['detail']}")
    lines.append(f"  RESULT: {'PASSED' if report['passed'] else 'FAILED'}")
    return "\n".join(lines)


def summary_line(report: Mapping[str, Any]) -> str:
    e2e = [t["e2e_ms"] for t in report["turns"] if t["e2e_ms"] is not None]
    median = sorted(e2e)[len(e2e) // 2] if e2e else None
    failed = [c["check"] for c in report["checks"] if not c["passed"]]
    status = "PASS" if report["passed"] else "FAIL: " + "; ".join(failed)
    return f"{report['scenario']:<22} {len(e2e)} turn(s), median e2e {_ms(median)} ms  {status}"


def full(report: Mapping[str, Any]) -> str:
    return "\n\n".join(
        [transcript(report), bookings(report), latency_table(report), checks(report)]
    )


def bench_header(job_executor: str) -> str:
    return "\n".join(
        [
            heading(f"Concurrent calls against one agent worker (JOB_EXECUTOR={job_executor})"),
            f"  {'N':>3} {'fail':>4} {'alone':>5} {'turns':>5} {'e2e p50':>8}"
            f" {'added p50':>9} {'p95':>5}"
            f" {'Δp95':>5} {'in':>4} {'agent':>5} {'out':>4} {'worker cores':>12}"
            f" {'cores/call':>10} {'PSS MB/call':>11}"
            f" {'RSS MB/call':>11} {'callers':>7} {'SFU':>5} {'sim':>5} {'load':>5}",
        ]
    )


def bench_row(level: Mapping[str, Any]) -> str:
    load = level["peak_worker_load"]
    return (
        f"  {level['calls']:>3} {level['failed']:>4}"
        f" {level.get('callers_without_receptionist', 0):>5} {level['turns']:>5}"
        f" {_ms(level['e2e_p50_ms']):>8} {_ms(level['added_p50_ms']):>9}"
        f" {_ms(level['added_p95_ms']):>5} {_ms(level['added_p95_increase_ms']):>5}"
        f" {_ms(level['caller_to_stt_p50_ms']):>4} {_ms(level['agent_p50_ms']):>5}"
        f" {_ms(level['agent_to_caller_p50_ms']):>4}"
        f" {level['worker_cores']:>12.2f} {level['worker_cores_per_call']:>10.3f}"
        f" {level['worker_pss_mb_per_call']:>11.0f} {level['worker_rss_mb_per_call']:>11.0f}"
        f" {level['callers_cores']:>7.2f} {level['livekit_cores']:>5.2f}"
        f" {level['provider_sim_cores']:>5.2f} {'—' if load is None else f'{load:.2f}':>5}"
    )


def bench_conclusions(summary: Mapping[str, Any]) -> str:
    result = summary["conclusions"]
    targets = result["targets"]
    cpu_bound = result["worker_cpu_bound_calls_per_core"]
    lines = [
        "  added = e2e as the caller measured it − (simulated providers' critical path + our"
        " turn-detection windows), split at p50 into in (caller → STT: WebRTC in, audio"
        " input, STT chunks), agent (STT final → first audio out, beyond the providers) and"
        " out (WebRTC out); Δp95 = growth of p95 added over N=1; cores = CPU seconds /"
        " window seconds; callers/SFU/sim = the simulator's own callers, livekit-server and"
        " provider-sim on the same cores (not subtracted); load = peak lk_agents_worker_load.",
        f"  highest N with no failure and p95 added ≤ N=1 + 100 ms:"
        f" {result['highest_calls_within_p95_growth']}"
        f" ({result['highest_calls_per_core_within_p95_growth']:.1f} calls per core on"
        f" {result['cores']} cores shared with the simulator)",
        f"  highest N with p95 added ≤ 100 ms absolute:"
        f" {result['highest_calls_with_absolute_p95_added_within_100ms']}",
        "  worker CPU alone would fit "
        + ("—" if cpu_bound is None else f"{cpu_bound:.1f}")
        + f" calls per core (target ≥ {targets['calls_per_core']}); targets: p95 added ≤"
        f" {targets['p95_added_ms']:.0f} ms, ≤ {targets['mb_per_call']:.0f} MB per call",
    ]
    floor = summary.get("webrtc_floor")
    if floor is not None:
        lines.append(
            f"  WebRTC floor (bare rtc publisher → subscriber, same SFU, this run): p50"
            f" {_ms(floor['p50_ms'])} / p95 {_ms(floor['p95_ms'])} ms one way; compare the in"
            " and out columns with it"
        )
    wrapped = ["  " + _wrap(line.strip(), 4) for line in lines]
    return "\n".join([heading("Conclusions"), *wrapped])
