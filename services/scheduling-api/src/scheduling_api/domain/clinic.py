"""What a clinic is: hours, holidays, providers, appointment types and front-desk facts.

These models are the schema of the clinic YAML files. They validate strictly (unknown
keys, overlapping hours, a provider scheduled while the clinic is closed, a type nobody
performs...) so a typo fails the service at startup instead of silently hiding slots.
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, time
from functools import cached_property
from itertools import pairwise
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import (
    AnyHttpUrl,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from scheduling_api.domain.webhooks import ENDPOINT_ID_PATTERN, EventType

WEEKDAYS: tuple[str, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
_CLOCK_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _parse_clock_time(value: object) -> time:
    """Accept only quoted "HH:MM" strings.

    YAML 1.1 reads an unquoted 13:00 as the integer 780 (base 60), so anything that is
    not a string is refused with a hint instead of being misread.
    """
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError(f'write clock times as quoted strings like "13:00" (got {value!r})')
    match = _CLOCK_TIME.match(value)
    if match is None:
        raise ValueError(f'expected a 24-hour "HH:MM" time, got {value!r}')
    return time(int(match.group(1)), int(match.group(2)))


ClockTime = Annotated[
    time,
    BeforeValidator(_parse_clock_time),
    PlainSerializer(lambda value: value.strftime("%H:%M"), return_type=str),
]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Text = Annotated[str, Field(min_length=1, max_length=2000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpeningRange(_Strict):
    """One continuous stretch of opening time on a day, e.g. 08:00 to 12:00."""

    open: ClockTime
    close: ClockTime

    @model_validator(mode="after")
    def _open_before_close(self) -> OpeningRange:
        if self.open >= self.close:
            raise ValueError(f"open {self.open:%H:%M} must be before close {self.close:%H:%M}")
        return self

    def contains(self, other: OpeningRange) -> bool:
        return self.open <= other.open and other.close <= self.close


class WeeklyHours(_Strict):
    """Opening ranges per weekday; a day left out (or empty) is closed.

    Gaps between ranges are breaks (lunch), so "08:00-12:00, 13:00-17:00" is a day with
    a lunch hour.
    """

    monday: list[OpeningRange] = []
    tuesday: list[OpeningRange] = []
    wednesday: list[OpeningRange] = []
    thursday: list[OpeningRange] = []
    friday: list[OpeningRange] = []
    saturday: list[OpeningRange] = []
    sunday: list[OpeningRange] = []

    @model_validator(mode="after")
    def _ranges_sorted_and_disjoint(self) -> WeeklyHours:
        for day in WEEKDAYS:
            ranges: list[OpeningRange] = getattr(self, day)
            for earlier, later in pairwise(ranges):
                if later.open < earlier.close:
                    raise ValueError(
                        f"{day}: ranges must be in order and must not overlap "
                        f"({earlier.open:%H:%M}-{earlier.close:%H:%M} and "
                        f"{later.open:%H:%M}-{later.close:%H:%M})"
                    )
        return self

    def for_weekday(self, weekday: int) -> list[OpeningRange]:
        """Ranges for `date.weekday()` (0 = Monday)."""
        ranges: list[OpeningRange] = getattr(self, WEEKDAYS[weekday])
        return ranges


class Holiday(_Strict):
    date: date
    name: Text


class Address(_Strict):
    street: Text
    city: Text
    region: Text
    postal_code: Text
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]


class Provider(_Strict):
    """A dentist or hygienist with their own weekly schedule inside the clinic's hours."""

    provider_id: Slug
    name: Text
    role: Literal["dentist", "hygienist", "specialist", "assistant"]
    bio: str | None = None
    appointment_types: list[Slug] = Field(min_length=1)
    hours: WeeklyHours
    days_off: list[date] = []


class AppointmentType(_Strict):
    appointment_type_id: Slug
    name: Text
    duration_minutes: Annotated[int, Field(ge=5, le=480, multiple_of=5)]
    description: Text


class Policies(_Strict):
    new_patients: Text
    cancellation: Text
    late_arrival: Text
    children: str | None = None
    emergencies: str | None = None


class FaqEntry(_Strict):
    question: Text
    answer: Text


class BookingRules(_Strict):
    min_notice_minutes: Annotated[int, Field(ge=0, le=7 * 24 * 60)] = 120
    max_days_ahead: Annotated[int, Field(ge=1, le=365)] = 60
    slot_granularity_minutes: Literal[5, 10, 15, 20, 30, 60] = 30
    # an emergency caller whose earliest opening is further away also gets the urgent-care
    # guidance and an urgent callback offer from the receptionist
    emergency_max_wait_hours: Annotated[int, Field(ge=1, le=7 * 24)] = 24


class CallRecordPolicy(_Strict):
    """What the clinic keeps of each call: the record always, the transcript only opted in.

    Retention is enforced by Redis expiry, so an expired transcript is deleted, not hidden.
    """

    store_transcripts: bool = False
    transcript_retention_days: Annotated[int, Field(ge=1, le=3650)] = 30
    record_retention_days: Annotated[int, Field(ge=1, le=3650)] = 365

    @model_validator(mode="after")
    def _transcript_within_record(self) -> CallRecordPolicy:
        if self.transcript_retention_days > self.record_retention_days:
            raise ValueError(
                "transcript_retention_days must not exceed record_retention_days "
                f"({self.transcript_retention_days} > {self.record_retention_days})"
            )
        return self


class SeededWebhook(_Strict):
    """A webhook endpoint declared in the clinic YAML. Its secret is never in the YAML: it
    is read from the environment variable named by `secret_env` (e.g. from a Secret)."""

    endpoint_id: Annotated[str, Field(pattern=ENDPOINT_ID_PATTERN)]
    url: AnyHttpUrl
    events: list[EventType] = Field(min_length=1)
    secret_env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]{0,127}$")]
    description: str | None = None


class Clinic(_Strict):
    """A clinic as described in its YAML file (and served, reshaped, as its profile)."""

    clinic_id: Slug
    name: Text
    timezone: str
    phone: str
    email: Text
    website: Text
    address: Address
    parking: Text
    hours: WeeklyHours
    holidays: list[Holiday] = []
    providers: list[Provider] = Field(min_length=1)
    appointment_types: list[AppointmentType] = Field(min_length=1)
    insurance_accepted: list[Text] = []
    payment_options: list[Text] = []
    policies: Policies
    faq: list[FaqEntry] = []
    booking_rules: BookingRules = BookingRules()
    call_records: CallRecordPolicy = CallRecordPolicy()
    webhooks: list[SeededWebhook] = []

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA timezone {value!r} (e.g. America/Chicago)") from exc
        return value

    @field_validator("phone")
    @classmethod
    def _e164_phone(cls, value: str) -> str:
        try:
            parsed = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException as exc:
            raise ValueError(f"clinic phone must be E.164 like +15125550142: {exc}") from exc
        if not phonenumbers.is_valid_number(parsed):
            raise ValueError(f"clinic phone {value!r} is not a valid number")
        return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)

    @model_validator(mode="after")
    def _cross_references(self) -> Clinic:
        _unique("providers.provider_id", [p.provider_id for p in self.providers])
        _unique(
            "appointment_types.appointment_type_id",
            [t.appointment_type_id for t in self.appointment_types],
        )
        _unique("holidays.date", [h.date.isoformat() for h in self.holidays])
        _unique("webhooks.endpoint_id", [w.endpoint_id for w in self.webhooks])
        type_ids = {t.appointment_type_id for t in self.appointment_types}
        for provider in self.providers:
            unknown = sorted(set(provider.appointment_types) - type_ids)
            if unknown:
                raise ValueError(
                    f"provider {provider.provider_id!r} lists unknown appointment types {unknown}"
                )
            for weekday, day in enumerate(WEEKDAYS):
                clinic_ranges = self.hours.for_weekday(weekday)
                for worked in provider.hours.for_weekday(weekday):
                    if not any(opening.contains(worked) for opening in clinic_ranges):
                        raise ValueError(
                            f"provider {provider.provider_id!r} works {day} "
                            f"{worked.open:%H:%M}-{worked.close:%H:%M}, outside the clinic's "
                            f"{day} hours"
                        )
        performed = {type_id for p in self.providers for type_id in p.appointment_types}
        orphans = sorted(type_ids - performed)
        if orphans:
            raise ValueError(f"appointment types {orphans} are performed by no provider")
        return self

    @cached_property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def holiday_dates(self) -> frozenset[date]:
        return frozenset(h.date for h in self.holidays)

    @cached_property
    def providers_by_id(self) -> dict[str, Provider]:
        return {p.provider_id: p for p in self.providers}

    @cached_property
    def appointment_types_by_id(self) -> dict[str, AppointmentType]:
        return {t.appointment_type_id: t for t in self.appointment_types}

    @cached_property
    def working_time_memo(self) -> dict[tuple[str, date], list[tuple[int, int]]]:
        """Memo for `slots.working_intervals` (provider, day) → epoch intervals."""
        return {}

    def providers_for(self, appointment_type_id: str) -> list[Provider]:
        """Providers who perform the type, in the order the clinic lists them."""
        return [p for p in self.providers if appointment_type_id in p.appointment_types]

    def profile(self) -> dict[str, Any]:
        """The clinic as the API shows it: the config plus which providers do each type."""
        document = self.model_dump(mode="json", exclude={"webhooks"})
        for entry in document["appointment_types"]:
            entry["provider_ids"] = [
                p.provider_id for p in self.providers_for(entry["appointment_type_id"])
            ]
        return document


def _unique(field: str, values: list[str]) -> None:
    duplicates = sorted(value for value, count in Counter(values).items() if count > 1)
    if duplicates:
        raise ValueError(f"{field} must be unique; duplicated: {duplicates}")
