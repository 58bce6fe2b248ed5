"""Slots as the API shows them (with their signed ids), rendered once and kept.

The same near-future slots are shown again and again, and the same availability answer
is asked for again and again; both are cached (sizes and why they cannot go stale: see
scheduling_api/availability.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from functools import lru_cache

from scheduling_api.availability import ANSWERS_CACHE_SIZE, SLOT_VIEWS_CACHE_SIZE
from scheduling_api.domain.clinic import Clinic
from scheduling_api.domain.slot_ids import SlotIdSigner, SlotRef
from scheduling_api.domain.slots import Slot


class SlotViews:
    def __init__(self, *, clinics: Mapping[str, Clinic], signer: SlotIdSigner) -> None:
        self._clinics = clinics
        self._signer = signer
        self.view = lru_cache(maxsize=SLOT_VIEWS_CACHE_SIZE)(self._render)
        """`(clinic_id, slot)` → the slot as the API shows it (shared: do not modify)."""
        self._json = lru_cache(maxsize=SLOT_VIEWS_CACHE_SIZE)(self._render_json)
        self.availability_body = lru_cache(maxsize=ANSWERS_CACHE_SIZE)(self._render_availability)
        """`(clinic_id, slots, next_available)` → the availability response body."""

    def views(self, clinic_id: str, slots: Iterable[Slot]) -> list[dict[str, str]]:
        return [self.view(clinic_id, slot) for slot in slots]

    def _render(self, clinic_id: str, slot: Slot) -> dict[str, str]:
        clinic = self._clinics[clinic_id]
        ref = SlotRef(clinic_id, slot.provider_id, slot.appointment_type_id, slot.start)
        return {
            "slot_id": self._signer.sign(ref),
            "start": datetime.fromtimestamp(slot.start, clinic.tz).isoformat(),
            "end": datetime.fromtimestamp(slot.end, clinic.tz).isoformat(),
            "provider_id": slot.provider_id,
            "provider_name": clinic.providers_by_id[slot.provider_id].name,
            "appointment_type": slot.appointment_type_id,
        }

    def _render_json(self, clinic_id: str, slot: Slot) -> str:
        return json.dumps(self.view(clinic_id, slot), separators=(",", ":"))

    def _render_availability(
        self, clinic_id: str, slots: tuple[Slot, ...], next_available: Slot | None
    ) -> str:
        listed = ",".join(self._json(clinic_id, slot) for slot in slots)
        start = (
            json.dumps(self.view(clinic_id, next_available)["start"]) if next_available else "null"
        )
        return f'{{"slots":[{listed}],"next_available":{start}}}'
