"""The scheduling API's resources as the receptionist reads them (contract v1).

Unknown fields are ignored so the API can grow without breaking running workers.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field


class _ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Address(_ApiModel):
    street: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = "US"


class OpeningInterval(_ApiModel):
    open: str
    close: str


class Holiday(_ApiModel):
    date: date
    name: str


class Provider(_ApiModel):
    provider_id: str
    name: str
    role: str = ""
    appointment_types: list[str] = Field(default_factory=list)


class AppointmentType(_ApiModel):
    appointment_type_id: str
    name: str
    duration_minutes: int
    description: str = ""
    provider_ids: list[str] = Field(default_factory=list)


class FaqEntry(_ApiModel):
    question: str
    answer: str


class BookingRules(_ApiModel):
    min_notice_minutes: int = 0
    max_days_ahead: int = 60
    # an emergency whose earliest opening is further away also gets urgent-care advice
    emergency_max_wait_hours: int = 24


class PhoneLine(_ApiModel):
    """The clinic's numbers on LiveKit SIP and where a person takes transfers, when."""

    inbound_numbers: list[str] = Field(default_factory=list)
    front_desk_number: str | None = None
    transfer_hours: dict[str, list[OpeningInterval]] = Field(default_factory=dict)


class ClinicProfile(_ApiModel):
    clinic_id: str
    name: str
    timezone: str
    phone: str = ""
    email: str = ""
    website: str = ""
    address: Address = Field(default_factory=Address)
    parking: str = ""
    hours: dict[str, list[OpeningInterval]] = Field(default_factory=dict)
    holidays: list[Holiday] = Field(default_factory=list)
    providers: list[Provider] = Field(default_factory=list)
    appointment_types: list[AppointmentType] = Field(default_factory=list)
    insurance_accepted: list[str] = Field(default_factory=list)
    payment_options: list[str] = Field(default_factory=list)
    policies: dict[str, str] = Field(default_factory=dict)
    faq: list[FaqEntry] = Field(default_factory=list)
    booking_rules: BookingRules = Field(default_factory=BookingRules)
    phone_line: PhoneLine | None = None

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def appointment_type(self, appointment_type_id: str) -> AppointmentType | None:
        return next(
            (t for t in self.appointment_types if t.appointment_type_id == appointment_type_id),
            None,
        )

    def emergency_appointment_type(self) -> AppointmentType | None:
        """The clinic's urgent-care visit type, recognised by its id or name."""
        return next(
            (
                t
                for t in self.appointment_types
                if "emergency" in t.appointment_type_id.lower() or "emergency" in t.name.lower()
            ),
            None,
        )


class Slot(_ApiModel):
    slot_id: str
    start: datetime
    end: datetime
    provider_id: str
    provider_name: str
    appointment_type: str


class Availability(_ApiModel):
    slots: list[Slot]
    next_available: datetime | None = None


class Patient(_ApiModel):
    name: str
    phone: str
    email: str | None = None
    date_of_birth: date | None = None


class Booking(_ApiModel):
    booking_id: str
    clinic_id: str
    status: str
    start: datetime
    end: datetime
    provider_id: str
    provider_name: str
    appointment_type: str
    patient: Patient
    notes: str | None = None


class CallbackRequest(_ApiModel):
    callback_id: str
    clinic_id: str
    status: str
