"""The Python receiver in docs/integrating.md, run as written, verifies real deliveries
from `scheduling-api dispatch` and refuses a forged one."""

from __future__ import annotations

import re
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from webhook_receiver import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
TOKEN = "docs-webhook-token"


def documented_receiver() -> str:
    text = (REPO_ROOT / "docs" / "integrating.md").read_text()
    match = re.search(
        r"<!-- webhook-python:start -->\s*```python\n(.*?)```\s*<!-- webhook-python:end -->",
        text,
        re.S,
    )
    assert match, "docs/integrating.md has no ```python block marked webhook-python"
    return match.group(1)


@pytest.fixture
def receiver_port() -> int:
    return free_port()


@pytest.fixture
def secret() -> str:
    from scheduling_api.domain.webhooks import new_secret

    return new_secret()


@pytest.fixture
def documented(tmp_path: Path, receiver_port: int, secret: str) -> Iterator[subprocess.Popen[str]]:
    script = tmp_path / "receiver.py"
    script.write_text(documented_receiver())
    process = subprocess.Popen(
        [sys.executable, str(script)],
        env={"BRIGHT_SMILE_WEBHOOK_SECRET": secret, "PORT": str(receiver_port)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{receiver_port}/", timeout=0.5)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    yield process
    process.terminate()
    process.wait(timeout=10)


def test_the_documented_receiver_verifies_real_deliveries(
    services: Any,
    redis_url: str,
    documented: subprocess.Popen[str],
    receiver_port: int,
    secret: str,
    tmp_path: Path,
) -> None:
    clinic_file = tmp_path / "clinic.yaml"
    clinic_file.write_text(
        (
            REPO_ROOT / "services/scheduling-api/src/scheduling_api/clinics/bright-smile.yaml"
        ).read_text()
        + "webhooks:\n"
        + "  - endpoint_id: docs\n"
        + f"    url: http://127.0.0.1:{receiver_port}/hooks\n"
        + "    events: [callback.created]\n"
        + "    secret_env: DOCS_WEBHOOK_SECRET\n"
    )
    api = services.start(
        ["scheduling-api"],
        name="scheduling-api",
        env={
            "REDIS_URL": redis_url,
            "SCHEDULING_API_TOKENS": TOKEN,
            "SLOT_ID_SECRET": "docs-slot-secret-0123456789",
            "CLINICS_CONFIG": str(clinic_file),
            "DOCS_WEBHOOK_SECRET": secret,
        },
    )
    metrics_port = free_port()
    services.start(
        ["scheduling-api", "dispatch"],
        name="dispatcher",
        env={
            "REDIS_URL": redis_url,
            "CLINICS_CONFIG": str(clinic_file),
            "DISPATCH_METRICS_PORT": str(metrics_port),
            "DISPATCH_INSECURE_LOOPBACK": "true",
            "DISPATCH_POLL_SECONDS": "0.1",
        },
        port=metrics_port,
        ready_path="/metrics",
    )
    headers = {"Authorization": f"Bearer {TOKEN}"}
    clinic = f"{api.base_url}/v1/clinics/bright-smile"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the API seeds the YAML's endpoint as it starts
        if httpx.get(f"{clinic}/webhooks", headers=headers).json()["webhooks"]:
            break
        time.sleep(0.1)
    created = httpx.post(
        f"{clinic}/callbacks", json={"name": "Ana Ruiz", "phone": "5125550142"}, headers=headers
    )
    assert created.status_code == 201, created.text

    forged = httpx.post(
        f"http://127.0.0.1:{receiver_port}/hooks",
        content=b'{"type":"booking.created","timestamp":"x","data":{}}',
        headers={
            "webhook-id": "msg_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        },
    )
    assert forged.status_code == 400

    assert documented.stdout is not None
    ready, _, _ = select.select([documented.stdout], [], [], 60)
    assert ready, "the documented receiver printed no delivery within 60 s"
    line = documented.stdout.readline()
    webhook_id, event_type, data = line.split(" ", 2)
    assert webhook_id.startswith("msg_")
    assert event_type == "callback.created"
    assert created.json()["callback_id"] in data
