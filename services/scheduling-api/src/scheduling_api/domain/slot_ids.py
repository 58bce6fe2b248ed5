"""Opaque, self-validating slot ids.

A slot id carries everything needed to book it (clinic, provider, appointment type,
start) plus an HMAC-SHA256 tag, so the booking endpoint needs no server-side record of
what availability returned, and a forged or edited id is rejected. Every process of a
deployment must share `SLOT_ID_SECRET` to accept ids the others issued.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
from dataclasses import dataclass

_VERSION = b"slot.v1|"
_TAG_BYTES = 16
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{1,400}\.[A-Za-z0-9_-]{22}$")


class InvalidSlotIdError(ValueError):
    """The slot id is malformed, tampered with, or signed with another secret."""


@dataclass(frozen=True, slots=True)
class SlotRef:
    clinic_id: str
    provider_id: str
    appointment_type_id: str
    start: int


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SlotIdSigner:
    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _tag(self, payload: bytes) -> bytes:
        return hmac.digest(self._secret, _VERSION + payload, "sha256")[:_TAG_BYTES]

    def sign(self, ref: SlotRef) -> str:
        payload = (
            f"{ref.clinic_id}|{ref.provider_id}|{ref.appointment_type_id}|{ref.start}"
        ).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._tag(payload))}"

    def verify(self, slot_id: str) -> SlotRef:
        if _SHAPE.match(slot_id) is None:
            raise InvalidSlotIdError("slot_id is not a slot id issued by this service")
        encoded_payload, encoded_tag = slot_id.split(".")
        try:
            payload = _b64decode(encoded_payload)
        except (binascii.Error, ValueError) as exc:
            raise InvalidSlotIdError("slot_id is not a slot id issued by this service") from exc
        # Compare canonical encodings: base64's unused trailing bits must not let two
        # different strings pass as the same id.
        expected_tag = _b64encode(self._tag(payload))
        if _b64encode(payload) != encoded_payload or not hmac.compare_digest(
            encoded_tag, expected_tag
        ):
            raise InvalidSlotIdError("slot_id failed its signature check (forged or altered)")
        try:
            clinic_id, provider_id, type_id, start = payload.decode().split("|")
            return SlotRef(clinic_id, provider_id, type_id, int(start))
        except ValueError as exc:
            raise InvalidSlotIdError("slot_id payload is malformed") from exc
