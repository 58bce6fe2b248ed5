"""`agent-worker-sip sync [--dry-run] [--prune]`: LiveKit SIP made to match the clinics."""

from __future__ import annotations

import argparse
import asyncio
import sys

from livekit import api

from .clinic_lines import ClinicSourceError, read_phone_lines
from .config import Settings
from .livekit_sip import apply, read_managed
from .plan import Change, PhoneLine, TrunkAccess, plan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="agent-worker-sip",
        description="Provision the clinics' phone numbers in LiveKit SIP (see deploy/README.md).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser(
        "sync",
        help="create or update one inbound trunk and one dispatch rule per clinic phone line",
    )
    sync.add_argument("--dry-run", action="store_true", help="print the changes, make none")
    sync.add_argument(
        "--prune",
        action="store_true",
        help="delete trunks and rules this command created that the clinics no longer name",
    )
    args = parser.parse_args(argv)
    settings = Settings()
    problems = [f"set {name}" for name in settings.missing()]
    if access_problem := settings.access_problem():
        problems.append(access_problem)
    if problems:
        sys.exit("agent-worker-sip: " + "; ".join(problems))
    sys.exit(asyncio.run(sync_clinics(settings, dry_run=args.dry_run, prune=args.prune)))


async def sync_clinics(settings: Settings, *, dry_run: bool, prune: bool) -> int:
    """Prints the plan (and applies it unless `dry_run`); returns the exit status."""
    try:
        lines = await read_phone_lines(
            settings.scheduling_api_url,
            settings.scheduling_api_token.get_secret_value(),
            wait_seconds=settings.sip_wait_for_scheduling_api_seconds,
        )
    except ClinicSourceError as exc:
        _say(f"agent-worker-sip: {exc}", error=True)
        return 2
    access = TrunkAccess(
        settings.allowed_addresses,
        settings.sip_auth_username,
        settings.sip_auth_password.get_secret_value(),
    )
    async with api.LiveKitAPI(
        _http_url(settings.livekit_url),
        settings.livekit_api_key.get_secret_value(),
        settings.livekit_api_secret.get_secret_value(),
    ) as lkapi:
        try:
            trunks, rules = await read_managed(lkapi)
            changes = plan(lines, access, settings.agent_name, trunks, rules, prune=prune)
            _say(_header(lines, settings.livekit_url, dry_run=dry_run))
            if not dry_run:
                await apply(lkapi, changes)
        except api.TwirpError as exc:
            _say(
                f"agent-worker-sip: LiveKit refused {exc.code}: {exc.message} (is SIP enabled "
                "on this LiveKit? a self-hosted server needs `redis:` in its config)",
                error=True,
            )
            return 3
    for change in changes:
        _say(change.describe(dry_run=dry_run))
    _say(_summary(changes, dry_run=dry_run))
    return 0


def _header(lines: list[PhoneLine], livekit_url: str, *, dry_run: bool) -> str:
    mode = " (dry run: nothing is changed)" if dry_run else ""
    return f"SIP sync for {len(lines)} clinic phone line(s) on {livekit_url}{mode}"


def _summary(changes: list[Change], *, dry_run: bool) -> str:
    counts = {
        action: sum(c.action == action for c in changes)
        for action in ("create", "update", "delete")
    }
    if not any(counts.values()):
        return "No changes: LiveKit matches the clinics."
    done = ", ".join(
        f"{count} to {action}" if dry_run else f"{count} {action}d"
        for action, count in counts.items()
        if count
    )
    return f"{'Would make' if dry_run else 'Made'} changes: {done}."


def _say(line: str, *, error: bool = False) -> None:
    """Output for an operator reading a terminal or a Job's log."""
    stream = sys.stderr if error else sys.stdout
    stream.write(line + "\n")
    stream.flush()


def _http_url(url: str) -> str:
    """The API speaks HTTP on the same address the worker reaches with WebSockets."""
    return url.replace("wss://", "https://", 1).replace("ws://", "http://", 1)
