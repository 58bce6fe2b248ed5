"""Fills a call's `CallLedger` from what the call does, without the receptionist knowing.

Two sources: the session's events (what each side said, which tools ran and how they
failed) and the call's scheduling requests (the ids of the bookings and callbacks it
changed, which the model never sees). `CallScheduling` is the call's own view of the
process's shared `SchedulingClient`: the same connection pool, plus the ledger.
"""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any, TypeVar

from livekit.agents import AgentSession
from livekit.agents.llm import ChatMessage
from livekit.agents.voice.events import (
    CloseEvent,
    ConversationItemAddedEvent,
    FunctionToolsExecutedEvent,
)

from .call_report import CallLedger, Person
from .front_desk import unavailable_error
from .resources import Availability, Booking, CallbackRequest, ClinicProfile
from .scheduling_client import BookingOutcome, SchedulingClient, SchedulingUnavailable

EMERGENCY_TOOL = "find_emergency_slot"
T = TypeVar("T")


class CallScheduling(SchedulingClient):
    """The shared client's requests, noted in the call's ledger.

    It overrides every public request of `SchedulingClient` and delegates it to the shared
    instance (a test checks none is missed), so it never uses a connection of its own.
    """

    def __init__(self, shared: SchedulingClient, ledger: CallLedger) -> None:
        self._shared = shared
        self._ledger = ledger

    async def aclose(self) -> None:
        """The shared client outlives the call; the process closes it."""

    async def get_clinic(self, clinic_id: str) -> ClinicProfile:
        return await self._noted(self._shared.get_clinic(clinic_id))

    async def availability(
        self,
        clinic_id: str,
        *,
        appointment_type: str,
        start_date: str | None = None,
        days: int | None = None,
        part_of_day: str | None = None,
        provider_id: str | None = None,
        limit: int | None = None,
    ) -> Availability:
        return await self._noted(
            self._shared.availability(
                clinic_id,
                appointment_type=appointment_type,
                start_date=start_date,
                days=days,
                part_of_day=part_of_day,
                provider_id=provider_id,
                limit=limit,
            )
        )

    async def find_bookings(
        self, clinic_id: str, *, phone: str, status: str | None = "confirmed"
    ) -> list[Booking]:
        return await self._noted(self._shared.find_bookings(clinic_id, phone=phone, status=status))

    async def create_booking(
        self,
        clinic_id: str,
        *,
        slot_id: str,
        patient_name: str,
        patient_phone: str,
        idempotency_key: str,
        notes: str | None = None,
    ) -> BookingOutcome:
        outcome = await self._noted(
            self._shared.create_booking(
                clinic_id,
                slot_id=slot_id,
                patient_name=patient_name,
                patient_phone=patient_phone,
                idempotency_key=idempotency_key,
                notes=notes,
            )
        )
        self._ledger.booking_created(outcome.booking.booking_id, _patient(outcome.booking))
        return outcome

    async def reschedule_booking(
        self, clinic_id: str, booking_id: str, *, slot_id: str, idempotency_key: str
    ) -> Booking:
        moved = await self._noted(
            self._shared.reschedule_booking(
                clinic_id, booking_id, slot_id=slot_id, idempotency_key=idempotency_key
            )
        )
        self._ledger.booking_rescheduled(booking_id, moved.booking_id, _patient(moved))
        return moved

    async def cancel_booking(
        self, clinic_id: str, booking_id: str, *, reason: str | None = None
    ) -> Booking:
        cancelled = await self._noted(
            self._shared.cancel_booking(clinic_id, booking_id, reason=reason)
        )
        self._ledger.booking_cancelled(cancelled.booking_id, _patient(cancelled))
        return cancelled

    async def request_callback(
        self,
        clinic_id: str,
        *,
        name: str,
        phone: str,
        reason: str | None = None,
        preferred_time: str | None = None,
    ) -> CallbackRequest:
        saved = await self._noted(
            self._shared.request_callback(
                clinic_id, name=name, phone=phone, reason=reason, preferred_time=preferred_time
            )
        )
        self._ledger.callback_saved(saved.callback_id, Person(name, phone))
        return saved

    async def _noted(self, request: Awaitable[T]) -> T:
        try:
            return await request
        except SchedulingUnavailable:
            self._ledger.system_failure()
            raise


def _patient(booking: Booking) -> Person:
    return Person(booking.patient.name, booking.patient.phone)


class CallRecorder:
    """One per call; `attach` it to the call's session."""

    def __init__(self, ledger: CallLedger) -> None:
        self.ledger = ledger
        self._unavailable = unavailable_error().message

    def attach(self, session: AgentSession[Any]) -> None:
        session.on("conversation_item_added", self.on_conversation_item)
        session.on("function_tools_executed", self.on_tools_executed)
        session.on("close", self.on_close)

    def on_conversation_item(self, event: ConversationItemAddedEvent) -> None:
        item = event.item
        if not isinstance(item, ChatMessage):
            return
        text = (item.text_content or "").strip()
        if not text:
            return
        at = datetime.fromtimestamp(item.created_at, UTC)
        if item.role == "user":
            self.ledger.caller_said(text, at)
        elif item.role == "assistant":
            self.ledger.receptionist_said(text, at)

    def on_tools_executed(self, event: FunctionToolsExecutedEvent) -> None:
        if any(call.name == EMERGENCY_TOOL for call in event.function_calls):
            self.ledger.emergency_handled()
        # a tool past its deadline reports the outage without the client raising it
        if any(
            output is not None and output.is_error and output.output == self._unavailable
            for output in event.function_call_outputs
        ):
            self.ledger.system_failure()

    def on_close(self, event: CloseEvent) -> None:
        if event.error is not None:
            self.ledger.system_failure()
