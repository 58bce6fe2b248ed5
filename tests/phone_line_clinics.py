"""Clinics the call stack serves besides the packaged ones, so a test can pick the answer
the clock would otherwise pick: a front desk that always takes transfers and one that
never does. Written into the stack's own CLINICS_CONFIG folder, never into the packaged
`scheduling_api/clinics/`.
"""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from scheduling_api.config import PACKAGED_CLINICS

DESK_ALWAYS_OPEN = "desk-always-open"
DESK_NEVER_OPEN = "desk-never-open"
# the front-desk numbers the transfer is attempted with (distinct from every packaged one)
FRONT_DESK_NUMBERS = {DESK_ALWAYS_OPEN: "+15125550911", DESK_NEVER_OPEN: "+15125550921"}
DIALLED_NUMBERS = {DESK_ALWAYS_OPEN: "+15125550910", DESK_NEVER_OPEN: "+15125550920"}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def midday_timezone(now: datetime) -> str:
    """A fixed-offset zone where `now` is about midday, so "00:00 to 23:59 every day" holds
    for the next eleven hours (the clock's last minute, 23:59, is never inside a range)."""
    offset = 12 - now.astimezone(UTC).hour  # -11..12; Etc/GMT names the offset inverted
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def write_test_clinics(folder: Path, now: datetime) -> Path:
    """`folder` as a CLINICS_CONFIG: the packaged clinics plus the two test front desks
    (copies of bright-smile with their own numbers, no holidays, transcripts kept, and
    transfer hours of every moment or none)."""
    folder.mkdir(parents=True, exist_ok=True)
    for packaged in PACKAGED_CLINICS.glob("*.yaml"):
        shutil.copy(packaged, folder / packaged.name)
    base: dict[str, Any] = yaml.safe_load((PACKAGED_CLINICS / "bright-smile.yaml").read_text())
    always = [{"open": "00:00", "close": "23:59"}]
    for clinic_id, transfer_hours, timezone in (
        (DESK_ALWAYS_OPEN, dict.fromkeys(WEEKDAYS, always), midday_timezone(now)),
        (DESK_NEVER_OPEN, {}, base["timezone"]),
    ):
        clinic = base | {
            "clinic_id": clinic_id,
            "name": f"Test clinic {clinic_id}",
            "timezone": timezone,
            "holidays": [],
            "call_records": {"store_transcripts": True},  # tests read what the model was told
            "phone_line": {
                "inbound_numbers": [DIALLED_NUMBERS[clinic_id]],
                "front_desk_number": FRONT_DESK_NUMBERS[clinic_id],
                "transfer_hours": transfer_hours,
            },
        }
        (folder / f"{clinic_id}.yaml").write_text(yaml.safe_dump(clinic, sort_keys=False))
    return folder
