"""Slot ids, patient details, clinic configuration and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from scheduling_api.clinic_loader import ClinicConfigError, load_clinic_file, load_clinics
from scheduling_api.config import PACKAGED_CLINICS, Settings
from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.patients import (
    NAME_MAX_LENGTH,
    clean_name,
    clean_text,
    normalize_email,
    normalize_phone,
)
from scheduling_api.domain.slot_ids import InvalidSlotIdError, SlotIdSigner, SlotRef

REF = SlotRef("bright-smile", "dr-chen", "exam", 1_800_000_000)

# -- slot ids ---------------------------------------------------------------------------


def test_slot_id_round_trip_is_url_safe() -> None:
    signer = SlotIdSigner(b"secret-one-0123456789")
    slot_id = signer.sign(REF)
    assert signer.verify(slot_id) == REF
    assert all(c.isalnum() or c in "-_." for c in slot_id)


def _flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1 :]


@pytest.mark.parametrize("index", [0, 5, 20, -1, -2, -10])
def test_any_changed_character_is_rejected(index: int) -> None:
    signer = SlotIdSigner(b"secret-one-0123456789")
    slot_id = signer.sign(REF)
    with pytest.raises(InvalidSlotIdError):
        signer.verify(_flip(slot_id, index))


def test_ids_signed_with_another_secret_are_rejected() -> None:
    forged = SlotIdSigner(b"attacker-secret-xxxxxx").sign(REF)
    with pytest.raises(InvalidSlotIdError):
        SlotIdSigner(b"secret-one-0123456789").verify(forged)


@pytest.mark.parametrize(
    "garbage", ["", "abc", "a.b", "x" * 600, "!!!.???", "YWJj.", ".YWJj", "a.b.c"]
)
def test_garbage_is_rejected(garbage: str) -> None:
    with pytest.raises(InvalidSlotIdError):
        SlotIdSigner(b"secret-one-0123456789").verify(garbage)


def test_edited_payload_with_recomputed_encoding_is_rejected() -> None:
    signer = SlotIdSigner(b"secret-one-0123456789")
    payload, tag = signer.sign(REF).split(".")
    other_payload = signer.sign(SlotRef("bright-smile", "dr-chen", "exam", 1_800_001_800))
    with pytest.raises(InvalidSlotIdError):
        signer.verify(f"{other_payload.split('.')[0]}.{tag}")
    assert payload != other_payload.split(".")[0]


# -- patients ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(512) 555-0199", "+15125550199"),
        ("512.555.0199", "+15125550199"),
        ("+1 512 555 0199", "+15125550199"),
        ("1-512-555-0199", "+15125550199"),
        ("+44 20 7946 0958", "+442079460958"),
    ],
)
def test_phones_normalise_to_e164(raw: str, expected: str) -> None:
    assert normalize_phone(raw, "US") == expected


@pytest.mark.parametrize("raw", ["", "12", "555-1234", "not a phone", "+1 512 555 01", "9" * 50])
def test_bad_phones_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match=r"phone|long"):
        normalize_phone(raw, "US")


def test_names_are_trimmed_collapsed_and_capped() -> None:
    assert clean_name("  Maria \t  Garcia\n") == "Maria Garcia"
    assert clean_name("Zoë\u0000 Ångström") == "Zoë Ångström"
    assert len(clean_name("A" * 500)) == NAME_MAX_LENGTH
    with pytest.raises(ValueError, match="empty"):
        clean_name(" \n\t ")


def test_free_text_and_email() -> None:
    assert clean_text("line one\r\nline\x07two") == "line one line two"
    assert normalize_email(" maria@example.com ") == "maria@example.com"
    for bad in ("maria", "maria@", "@example.com", "a b@example.com"):
        with pytest.raises(ValueError, match="email"):
            normalize_email(bad)


# -- clinic configuration ---------------------------------------------------------------


def test_packaged_bright_smile_clinic() -> None:
    clinics = load_clinics(PACKAGED_CLINICS)
    clinic = clinics["bright-smile"]
    assert clinic.timezone == "America/Chicago"
    assert clinic.hours.sunday == []
    assert len(clinic.hours.monday) == 2  # lunch break
    assert clinic.hours.saturday[-1].close.hour <= 13  # half day
    assert {p.role for p in clinic.providers} == {"dentist", "hygienist"}
    assert len(clinic.providers) == 3
    durations = {t.appointment_type_id: t.duration_minutes for t in clinic.appointment_types}
    assert durations == {
        "cleaning": 60,
        "exam": 30,
        "filling": 60,
        "whitening": 90,
        "emergency": 30,
        "consultation": 30,
    }
    assert len(clinic.faq) >= 8
    assert len(clinic.holidays) >= 10
    assert clinic.policies.new_patients
    assert clinic.policies.cancellation
    assert clinic.insurance_accepted
    assert clinic.payment_options
    profile = clinic.profile()
    assert profile["hours"]["monday"] == [
        {"open": "08:00", "close": "12:00"},
        {"open": "13:00", "close": "17:00"},
    ]
    cleaning = next(
        t for t in profile["appointment_types"] if t["appointment_type_id"] == "cleaning"
    )
    assert cleaning["provider_ids"] == ["maria-lopez", "james-okafor"]


def _write(path: Path, document: Any) -> Path:
    path.write_text(yaml.safe_dump(document) if not isinstance(document, str) else document)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["hours"].update(monday=[{"open": 800, "close": "12:00"}]), "quoted"),
        (lambda d: d["hours"].update(monday=[{"open": "8am", "close": "12:00"}]), "HH:MM"),
        (lambda d: d["hours"].update(monday=[{"open": "12:00", "close": "08:00"}]), "before"),
        (
            lambda d: d["hours"].update(
                monday=[{"open": "08:00", "close": "12:00"}, {"open": "11:00", "close": "13:00"}]
            ),
            "overlap",
        ),
        (lambda d: d["hours"].update(mondy=[]), "Extra inputs"),
        (lambda d: d.update(timezone="Mars/Olympus"), "IANA"),
        (lambda d: d.update(phone="555"), "phone"),
        (lambda d: d["providers"][0].update(appointment_types=["exam", "laser"]), "laser"),
        (lambda d: d["providers"][1].update(provider_id="dr-test"), "unique"),
        (
            lambda d: [p.update(appointment_types=["exam"]) for p in d["providers"][1:]],
            "performed by no provider",
        ),
        (
            lambda d: d["providers"][0]["hours"].update(
                saturday=[{"open": "08:00", "close": "14:00"}]
            ),
            "outside the clinic",
        ),
        (lambda d: d["appointment_types"][0].update(duration_minutes=7), "multiple"),
        (lambda d: d["booking_rules"].update(slot_granularity_minutes=7), "slot_granularity"),
        (lambda d: d.pop("policies"), "policies"),
        (lambda d: d.update(phone_line={"inbound_numbers": []}), "at least 1"),
        (lambda d: d.update(phone_line={"inbound_numbers": ["555-0142"]}), "E.164"),
        (lambda d: d.update(phone_line={"inbound_numbers": [15125550142]}), "quoted"),
        (
            lambda d: d.update(phone_line={"inbound_numbers": ["+15125550142"] * 2}),
            "inbound_numbers must be unique",
        ),
        (
            lambda d: d.update(
                phone_line={
                    "inbound_numbers": ["+15125550142"],
                    "front_desk_number": "+1 512 555 0142",
                }
            ),
            "ring the receptionist again",
        ),
        (
            lambda d: d.update(
                phone_line={
                    "inbound_numbers": ["+15125550142"],
                    "transfer_hours": {"monday": [{"open": "08:00", "close": "12:00"}]},
                }
            ),
            "need a front_desk_number",
        ),
    ],
)
def test_invalid_clinic_configuration_fails_with_the_reason(
    tmp_path: Path, clinic_document: dict[str, Any], change: Any, message: str
) -> None:
    change(clinic_document)
    with pytest.raises(ClinicConfigError, match=message) as error:
        load_clinic_file(_write(tmp_path / "clinic.yaml", clinic_document))
    assert "clinic.yaml" in str(error.value)


def test_unquoted_times_in_yaml_are_caught(tmp_path: Path) -> None:
    text = (PACKAGED_CLINICS / "bright-smile.yaml").read_text()
    broken = text.replace('close: "17:00"', "close: 17:00", 1)
    with pytest.raises(ClinicConfigError, match="quoted"):
        load_clinic_file(_write(tmp_path / "broken.yaml", broken))


def test_a_folder_of_clinics(tmp_path: Path, clinic_document: dict[str, Any]) -> None:
    _write(tmp_path / "a.yaml", clinic_document)
    clinic_document["clinic_id"] = "second"
    _write(tmp_path / "b.yml", clinic_document)
    (tmp_path / "notes.txt").write_text("ignored")
    assert sorted(load_clinics(tmp_path)) == ["second", "test-clinic"]
    assert sorted(load_clinics(tmp_path / "a.yaml")) == ["test-clinic"]


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "no \\*.yaml"),
        ({"a.yaml": "same", "b.yaml": "same"}, "already defined"),
        ({"a.yaml": "clinic_id: [unclosed"}, "cannot read YAML"),
        ({"a.yaml": "- just\n- a list\n"}, "mapping"),
    ],
)
def test_bad_clinic_folders(
    tmp_path: Path, clinic_document: dict[str, Any], files: dict[str, str], message: str
) -> None:
    for name, content in files.items():
        _write(tmp_path / name, clinic_document if content == "same" else content)
    with pytest.raises(ClinicConfigError, match=message):
        load_clinics(tmp_path)


def test_phone_line_is_normalised_and_in_the_profile(clinic_document: dict[str, Any]) -> None:
    clinic_document["phone_line"] = {
        "inbound_numbers": ["+1 (512) 555-0142"],
        "front_desk_number": "+1-512-555-0143",
        "transfer_hours": {"friday": [{"open": "09:00", "close": "12:00"}]},
    }
    profile = Clinic.model_validate(clinic_document).profile()
    assert profile["phone_line"]["inbound_numbers"] == ["+15125550142"]
    assert profile["phone_line"]["front_desk_number"] == "+15125550143"
    assert profile["phone_line"]["transfer_hours"]["friday"] == [
        {"open": "09:00", "close": "12:00"}
    ]
    assert profile["phone_line"]["transfer_hours"]["monday"] == []


def test_packaged_clinic_answers_its_own_phone() -> None:
    line = load_clinics(PACKAGED_CLINICS)["bright-smile"].phone_line
    assert line is not None
    assert line.inbound_numbers == ["+15125550142"]
    assert line.front_desk_number == "+15125550143"
    assert line.transfer_hours.sunday == []


def test_an_inbound_number_belongs_to_one_clinic(
    tmp_path: Path, clinic_document: dict[str, Any]
) -> None:
    clinic_document["phone_line"] = {"inbound_numbers": ["+15125550142"]}
    _write(tmp_path / "a.yaml", clinic_document)
    clinic_document["clinic_id"] = "second"
    _write(tmp_path / "b.yaml", clinic_document)
    with pytest.raises(ClinicConfigError, match=r"b\.yaml: inbound number \+15125550142"):
        load_clinics(tmp_path)


def test_missing_config_path(tmp_path: Path) -> None:
    with pytest.raises(ClinicConfigError, match="neither a file nor a folder"):
        load_clinics(tmp_path / "nope")


def test_clinic_model_rejects_orphan_types(clinic_document: dict[str, Any]) -> None:
    clinic_document["appointment_types"].append(
        {"appointment_type_id": "implant", "name": "Implant", "duration_minutes": 60,
         "description": "x"}
    )  # fmt: skip
    with pytest.raises(ValidationError, match="performed by no provider"):
        Clinic.model_validate(clinic_document)


# -- settings ---------------------------------------------------------------------------


def test_settings_refuse_to_run_open_without_dev_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHEDULING_API_TOKENS", raising=False)
    monkeypatch.delenv("SLOT_ID_SECRET", raising=False)
    with pytest.raises(ValidationError, match="SCHEDULING_API_TOKENS"):
        Settings()
    monkeypatch.setenv("SCHEDULING_API_TOKENS", "a, b ,,c")
    with pytest.raises(ValidationError, match="SLOT_ID_SECRET"):
        Settings()
    monkeypatch.setenv("SLOT_ID_SECRET", "long-enough-secret-123")
    settings = Settings()
    assert [t.get_secret_value() for t in settings.scheduling_api_tokens] == ["a", "b", "c"]
    assert "long-enough" not in repr(settings)
    assert "'a'" not in repr(settings)
    assert settings.port == 8000
    assert settings.clinics_config == PACKAGED_CLINICS


def test_insecure_dev_mode_runs_without_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCHEDULING_API_TOKENS", raising=False)
    monkeypatch.delenv("SLOT_ID_SECRET", raising=False)
    monkeypatch.setenv("SCHEDULING_API_INSECURE_DEV", "true")
    settings = Settings()
    assert not settings.auth_enabled
    assert len(settings.slot_secret_bytes()) == 32
