"""`agent-worker-sip sync` against a real livekit-server (with Redis, so it stores SIP
trunks and dispatch rules) and a real scheduling API serving the clinics' phone lines.

One story, in order: a first sync creates; a second changes nothing; a changed number is
updated; a removed clinic is reported, then pruned; a hand-made trunk and rule survive it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from call_sim.stack import LiveKitServer, livekit_server
from livekit import api
from livekit.protocol.sip import (
    CreateSIPDispatchRuleRequest,
    CreateSIPInboundTrunkRequest,
    ListSIPDispatchRuleRequest,
    ListSIPInboundTrunkRequest,
    SIPDispatchRule,
    SIPDispatchRuleDirect,
    SIPInboundTrunkInfo,
)
from sip_provisioning.cli import sync_clinics
from sip_provisioning.config import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGED_CLINIC = REPO_ROOT / "services/scheduling-api/src/scheduling_api/clinics/bright-smile.yaml"
SYNC = Path(sys.executable).parent / "agent-worker-sip"


@pytest.fixture
def sip_livekit(private_redis: Any, tmp_path: Path) -> Iterator[LiveKitServer]:
    server = livekit_server(
        tmp_path, api_key="testkey", redis_address=f"127.0.0.1:{private_redis.port}"
    )
    server.launch(timeout=20)
    yield server
    server.stop()


class Clinics:
    """A folder of clinic files served by a real scheduling API, restarted on each edit."""

    def __init__(self, folder: Path, services: Any, redis_url: str) -> None:
        self.folder = folder
        self.services = services
        self.token = "sip-sync-" + secrets.token_hex(8)
        self.env = {
            "REDIS_URL": redis_url,
            "REDIS_KEY_PREFIX": "sip-sync",
            "HOST": "127.0.0.1",
            "SCHEDULING_API_TOKENS": self.token,
            "SLOT_ID_SECRET": secrets.token_hex(16),
            "CLINICS_CONFIG": str(folder),
            "LOG_LEVEL": "WARNING",
        }
        self.server: Any = None

    def write(self, clinics: dict[str, list[str]]) -> None:
        """One file per clinic id with these inbound numbers, then (re)start the API."""
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder.mkdir()
        template = yaml.safe_load(PACKAGED_CLINIC.read_text())
        for clinic_id, numbers in clinics.items():
            document = {**template, "clinic_id": clinic_id}
            document["phone_line"] = {**template["phone_line"], "inbound_numbers": numbers}
            (self.folder / f"{clinic_id}.yaml").write_text(yaml.safe_dump(document))
        if self.server is not None:
            self.server.stop()
        self.server = self.services.start(["scheduling-api"], name="scheduling-api", env=self.env)


def sync_env(livekit: LiveKitServer, clinics: Clinics) -> dict[str, str]:
    return {
        "LIVEKIT_URL": livekit.url,
        "LIVEKIT_API_KEY": livekit.api_key,
        "LIVEKIT_API_SECRET": livekit.api_secret,
        "SCHEDULING_API_URL": clinics.server.base_url,
        "SCHEDULING_API_TOKEN": clinics.token,
        "SIP_ALLOWED_ADDRESSES": "203.0.113.0/24, 198.51.100.7",
        "SIP_AUTH_USERNAME": "carrier",
        "SIP_AUTH_PASSWORD": "s3cret-carrier-password",
        "AGENT_NAME": "bright-smile-receptionist",
    }


def run_console_script(livekit: LiveKitServer, clinics: Clinics, *args: str) -> str:
    """The command as operators and the chart's Job run it."""
    result = subprocess.run(
        [str(SYNC), "sync", *args],
        env={"PATH": "/usr/bin:/bin", **sync_env(livekit, clinics)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


class InProcessSync:
    """The same command in this process (each console-script start costs seconds here)."""

    def __init__(self, livekit: LiveKitServer, clinics: Clinics, capsys: Any) -> None:
        self.livekit, self.clinics, self.capsys = livekit, clinics, capsys

    async def __call__(self, *args: str) -> str:
        env = sync_env(self.livekit, self.clinics)
        settings = Settings.model_validate({name.lower(): value for name, value in env.items()})
        self.capsys.readouterr()
        status = await sync_clinics(settings, dry_run="--dry-run" in args, prune="--prune" in args)
        captured = self.capsys.readouterr()
        assert status == 0, captured.out + captured.err
        return str(captured.out)


async def listed(livekit: LiveKitServer) -> tuple[list[Any], list[Any]]:
    async with api.LiveKitAPI(livekit.http_url, livekit.api_key, livekit.api_secret) as lkapi:
        trunks = (await lkapi.sip.list_inbound_trunk(ListSIPInboundTrunkRequest())).items
        rules = (await lkapi.sip.list_dispatch_rule(ListSIPDispatchRuleRequest())).items
    return list(trunks), list(rules)


async def test_sync_creates_is_idempotent_updates_and_prunes_only_its_own(
    sip_livekit: LiveKitServer, private_redis: Any, services: Any, tmp_path: Path, capsys: Any
) -> None:
    clinics = Clinics(tmp_path / "clinics", services, private_redis.url)
    clinics.write({"bright-smile": ["+15125550142"], "north": ["+15125550180"]})
    run_sync = InProcessSync(sip_livekit, clinics, capsys)

    first = run_console_script(sip_livekit, clinics)
    assert "+ created trunk for clinic bright-smile" in first
    assert "+ created dispatch rule for clinic north" in first
    assert "Made changes: 4 created." in first
    assert "s3cret" not in first
    trunks, rules = await listed(sip_livekit)
    assert sorted(tuple(t.numbers) for t in trunks) == [("+15125550142",), ("+15125550180",)]
    assert all(sorted(t.allowed_addresses) == ["198.51.100.7", "203.0.113.0/24"] for t in trunks)
    trunk_of = {json.loads(t.metadata)["clinic_id"]: t.sip_trunk_id for t in trunks}
    rule = next(r for r in rules if json.loads(r.metadata)["clinic_id"] == "bright-smile")
    assert list(rule.trunk_ids) == [trunk_of["bright-smile"]]
    assert rule.rule.dispatch_rule_individual.room_prefix == "call-bright-smile-"
    [dispatch] = rule.room_config.agents
    assert dispatch.agent_name == "bright-smile-receptionist"
    assert dispatch.metadata == '{"clinic_id":"bright-smile"}'  # as the token service writes it

    second = await run_sync()
    assert "No changes: LiveKit matches the clinics." in second
    assert second.count("unchanged") == 4
    assert await listed(sip_livekit) == (trunks, rules)

    clinics.write({"bright-smile": ["+15125550199"], "north": ["+15125550180"]})
    dry = await run_sync("--dry-run")
    assert "~ would update trunk for clinic bright-smile" in dry
    assert "numbers: +15125550142 -> +15125550199" in dry
    assert await listed(sip_livekit) == (trunks, rules)  # a dry run changes nothing
    updated = await run_sync()
    assert "Made changes: 1 updated." in updated
    trunks, _ = await listed(sip_livekit)
    by_clinic = {json.loads(t.metadata)["clinic_id"]: t for t in trunks}
    assert list(by_clinic["bright-smile"].numbers) == ["+15125550199"]
    assert by_clinic["bright-smile"].sip_trunk_id == trunk_of["bright-smile"]  # same trunk

    hand_made = await _hand_made_trunk_and_rule(sip_livekit)
    clinics.write({"bright-smile": ["+15125550199"]})
    kept = await run_sync()
    assert "run with --prune to remove it" in kept
    assert len((await listed(sip_livekit))[0]) == 3
    pruned = await run_sync("--prune")
    assert "- deleted dispatch rule for clinic north" in pruned
    assert "- deleted trunk for clinic north" in pruned
    trunks, rules = await listed(sip_livekit)
    assert {t.sip_trunk_id for t in trunks} == {trunk_of["bright-smile"], hand_made[0]}
    assert hand_made[1] in {r.sip_dispatch_rule_id for r in rules}
    assert len(rules) == 2
    assert "No changes" in await run_sync("--prune")


async def _hand_made_trunk_and_rule(livekit: LiveKitServer) -> tuple[str, str]:
    """Someone's own trunk and rule on the same project, which sync must never touch."""
    async with api.LiveKitAPI(livekit.http_url, livekit.api_key, livekit.api_secret) as lkapi:
        trunk = await lkapi.sip.create_inbound_trunk(
            CreateSIPInboundTrunkRequest(
                trunk=SIPInboundTrunkInfo(
                    name="bright-smile north", numbers=["+15125550111"], metadata="{}"
                )
            )
        )
        rule = await lkapi.sip.create_dispatch_rule(
            CreateSIPDispatchRuleRequest(
                name="bright-smile north",
                trunk_ids=[trunk.sip_trunk_id],
                rule=SIPDispatchRule(
                    dispatch_rule_direct=SIPDispatchRuleDirect(room_name="front-desk")
                ),
            )
        )
    return trunk.sip_trunk_id, rule.sip_dispatch_rule_id
