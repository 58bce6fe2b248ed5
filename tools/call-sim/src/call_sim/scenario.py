"""Call scenarios: who calls which clinic, what they say, what the model answers, and what
must be true afterwards. Pure: parsing and validation only, no I/O.

A call scenario is a provider-sim scenario with more keys. The model part (`greeting`,
`fallback_reply` and each turn's `caller` + `model`) is provider-sim's own format, handed
over unchanged through `POST /sim/scenario` (see `provider_script`); provider-sim validates
and documents it (steps with `say` and/or `tool_calls`, `{{ tool | regex: ... }}`
templates reading earlier tool outputs). The call simulator adds:

* `clinic` — the clinic the caller asks the token service for;
* `setup.bookings` — bookings made through the scheduling API before the call (for
  reschedule and cancel calls);
* per turn: `pause_seconds` (silence before the caller speaks) and `before` actions run
  just before the caller speaks (`take_earliest_slot`, `stop_scheduling_api`);
* `listen_after_seconds` — how long the caller stays on after its last turn, waiting for
  the receptionist to say goodbye and hang up;
* `expect` — bookings, callbacks, tools, booking outcomes and phrases that must hold, and
  `call_outcome`: the outcome of the call record the worker stores after the call;
* `talk_to_it` — how a person gets through the script in `make dev`, printed there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

PartOfDay = Literal["morning", "afternoon", "evening"]
BookingStatus = Literal["confirmed", "cancelled", "rescheduled"]
CallOutcome = Literal[
    "booked",
    "rescheduled",
    "cancelled",
    "callback_requested",
    "transferred",
    "information_only",
    "emergency_advised",
    "abandoned",
    "failed",
]
PHONE_PATTERN = r"^\+[1-9][0-9]{7,14}$"


class CallScenarioError(ValueError):
    """The scenario file is not valid; the message says where and why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Patient(_Strict):
    name: str = Field(min_length=1)
    phone: str = Field(pattern=PHONE_PATTERN, description="E.164, e.g. +14155550132")


class SeedBooking(_Strict):
    """A booking made through the API before the call: the earliest free slot that fits."""

    appointment_type: str = Field(min_length=1)
    part_of_day: PartOfDay | None = None
    patient: Patient


class SlotGrab(_Strict):
    """Book every free slot at the earliest time the receptionist could offer, for someone
    else, so the caller's choice is taken between the offer and the booking.

    The receptionist offers the earliest free slot as option-1; this takes the slots of the
    same query (appointment type, part of day, today onwards) that start at that time.
    """

    appointment_type: str = Field(min_length=1)
    part_of_day: PartOfDay | None = None
    days: int = Field(default=7, ge=1, le=60)
    patient: Patient = Patient(name="Jordan Walker", phone="+15125550199")


class BeforeTurn(_Strict):
    take_earliest_slot: SlotGrab | None = None
    stop_scheduling_api: bool = False


class CallerTurn(_Strict):
    caller: str = Field(min_length=1)
    model: list[dict[str, Any]] = Field(default_factory=list)
    pause_seconds: float | None = Field(default=None, ge=0, le=30)
    before: BeforeTurn = BeforeTurn()

    @field_validator("model", mode="before")
    @classmethod
    def _one_step_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, Mapping) else value


class ExpectedBooking(_Strict):
    """Bookings for `patient_phone` that match every given field; exactly `count` of them."""

    patient_phone: str = Field(pattern=PHONE_PATTERN)
    appointment_type: str | None = None
    status: BookingStatus = "confirmed"
    patient_name: str | None = None
    rescheduled_from_seeded: bool = False  # the new booking of a reschedule
    count: int = Field(default=1, ge=0)


class ExpectedCallback(_Strict):
    phone: str = Field(pattern=PHONE_PATTERN)
    count: int = Field(default=1, ge=0)


class Expectations(_Strict):
    bookings: list[ExpectedBooking] = Field(default_factory=list)
    no_bookings_for: list[str] = Field(default_factory=list)
    callbacks: list[ExpectedCallback] = Field(default_factory=list)
    tools: list[str] | None = None  # exactly these tools, in this order
    tool_errors: list[str] = Field(default_factory=list)  # each failed at least once
    booking_outcomes: dict[str, int] = Field(default_factory=dict)
    agent_says: list[str] = Field(default_factory=list)  # case-insensitive phrases
    ended_by: Literal["agent", "caller"] | None = "agent"
    # the outcome of the call record the worker stores; the record must exist, with a summary
    call_outcome: CallOutcome | None = None


class CallScenario(_Strict):
    name: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    description: str = ""
    clinic: str = Field(default="bright-smile", pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")
    fallback_reply: str | None = None
    greeting: list[dict[str, Any]] = Field(default_factory=list)
    setup_bookings: list[SeedBooking] = Field(default_factory=list, alias="setup")
    turns: list[CallerTurn] = Field(default_factory=list)
    listen_after_seconds: float = Field(default=8.0, ge=0, le=120)
    expect: Expectations = Expectations()
    talk_to_it: str = ""

    @field_validator("setup_bookings", mode="before")
    @classmethod
    def _setup_holds_bookings(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            return value.get("bookings", [])
        return value

    def provider_script(self) -> dict[str, Any]:
        """The model part, in provider-sim's scenario format."""
        script: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "greeting": self.greeting,
            "turns": [{"caller": turn.caller, "model": turn.model} for turn in self.turns],
        }
        if self.fallback_reply is not None:
            script["fallback_reply"] = self.fallback_reply
        return script

    def provider_script_yaml(self) -> str:
        return yaml.safe_dump(self.provider_script(), sort_keys=False, allow_unicode=True)

    @property
    def phones(self) -> list[str]:
        """Every phone number the expectations and the setup mention (for look-ups)."""
        phones = [seed.patient.phone for seed in self.setup_bookings]
        phones += [booking.patient_phone for booking in self.expect.bookings]
        phones += self.expect.no_bookings_for
        phones += [callback.phone for callback in self.expect.callbacks]
        return list(dict.fromkeys(phones))


def parse_scenario_text(text: str, *, source: str = "scenario") -> CallScenario:
    """Parse a YAML scenario, with errors that name the offending field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise CallScenarioError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, Mapping):
        raise CallScenarioError(f"{source}: expected a mapping at the top level")
    try:
        return CallScenario.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top level)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise CallScenarioError(f"{source}: {problems}") from None
