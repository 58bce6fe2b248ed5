"""Reads clinic YAML (one file, or a folder with one clinic per file) and validates it.

Any problem stops the service at startup with the file and the field at fault, because a
silently wrong clinic (a missing holiday, a misread hour) means wrong appointments.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import ValidationError

from scheduling_api.domain.clinic import Clinic


class ClinicConfigError(Exception):
    """The clinic configuration cannot be used; the message says where and why."""


def load_clinics(path: Path) -> dict[str, Clinic]:
    """Clinics by id from a YAML file or every `*.yaml`/`*.yml` file of a folder."""
    if path.is_dir():
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")])
        if not files:
            raise ClinicConfigError(f"CLINICS_CONFIG folder {path} holds no *.yaml files")
    elif path.is_file():
        files = [path]
    else:
        raise ClinicConfigError(f"CLINICS_CONFIG {path} is neither a file nor a folder")
    clinics: dict[str, Clinic] = {}
    clinic_by_number: dict[str, str] = {}
    for file in files:
        clinic = load_clinic_file(file)
        if clinic.clinic_id in clinics:
            raise ClinicConfigError(
                f"{file}: clinic_id {clinic.clinic_id!r} is already defined by another file"
            )
        clinics[clinic.clinic_id] = clinic
        # a dialed number must lead to one clinic, or calls would reach the wrong one
        for number in clinic.phone_line.inbound_numbers if clinic.phone_line else []:
            if number in clinic_by_number:
                raise ClinicConfigError(
                    f"{file}: inbound number {number} already belongs to clinic "
                    f"{clinic_by_number[number]!r}"
                )
            clinic_by_number[number] = clinic.clinic_id
    return clinics


def load_clinic_file(file: Path) -> Clinic:
    try:
        document = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ClinicConfigError(f"{file}: cannot read YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ClinicConfigError(f"{file}: expected a mapping describing one clinic")
    try:
        return Clinic.model_validate(document)
    except ValidationError as exc:
        problems = "\n".join(
            f"  - {'.'.join(str(part) for part in error['loc']) or '(clinic)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ClinicConfigError(f"{file}: invalid clinic configuration:\n{problems}") from exc
