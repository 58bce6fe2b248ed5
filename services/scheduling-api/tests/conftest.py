"""Fixtures for the scheduling-api suite.

Two kinds of servers: the app in-process behind httpx's ASGI transport (fast, with a
clinic built in code and a clock the test controls), and real `scheduling-api` processes
started through the root `services` fixture (real clock, packaged bright-smile clinic).
Both talk to the real redis-server from the root conftest.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from call_sim.stack import scheduling_api_env
from fastapi import FastAPI
from scheduling_api.app import create_app
from scheduling_api.config import Settings
from scheduling_api.domain.clinic import Clinic

TOKEN = "test-token-alpha"
SECOND_TOKEN = "test-token-bravo"
SLOT_SECRET = "test-slot-secret-0123456789"
CHICAGO = ZoneInfo("America/Chicago")

WEEKDAY_HOURS = [{"open": "08:00", "close": "12:00"}, {"open": "13:00", "close": "17:00"}]

TEST_CLINIC: dict[str, Any] = {
    "clinic_id": "test-clinic",
    "name": "Test Dental",
    "timezone": "America/Chicago",
    "phone": "+15125550142",
    "email": "desk@test-dental.example",
    "website": "https://test-dental.example",
    "address": {
        "street": "1 Main St",
        "city": "Austin",
        "region": "TX",
        "postal_code": "78701",
        "country": "US",
    },
    "parking": "Lot behind the building.",
    "hours": {
        "monday": WEEKDAY_HOURS,
        "tuesday": WEEKDAY_HOURS,
        "wednesday": WEEKDAY_HOURS,
        "thursday": WEEKDAY_HOURS,
        "friday": WEEKDAY_HOURS,
        "saturday": [{"open": "08:00", "close": "12:00"}],
    },
    "holidays": [{"date": "2027-01-18", "name": "Closed for training"}],
    "providers": [
        {
            "provider_id": "dr-test",
            "name": "Dr. Test",
            "role": "dentist",
            "appointment_types": ["exam", "filling", "whitening"],
            "hours": {
                "monday": WEEKDAY_HOURS,
                "tuesday": WEEKDAY_HOURS,
                "wednesday": WEEKDAY_HOURS,
                "thursday": WEEKDAY_HOURS,
                "friday": WEEKDAY_HOURS,
                "saturday": [{"open": "08:00", "close": "12:00"}],
            },
            "days_off": ["2027-01-22"],
        },
        {
            "provider_id": "hyg-a",
            "name": "Hygienist A",
            "role": "hygienist",
            "appointment_types": ["cleaning"],
            "hours": {"monday": WEEKDAY_HOURS, "wednesday": WEEKDAY_HOURS},
        },
        {
            "provider_id": "hyg-b",
            "name": "Hygienist B",
            "role": "hygienist",
            "appointment_types": ["cleaning"],
            "hours": {"monday": [{"open": "13:00", "close": "17:00"}], "tuesday": WEEKDAY_HOURS},
        },
    ],
    "appointment_types": [
        {
            "appointment_type_id": "exam",
            "name": "Exam",
            "duration_minutes": 30,
            "description": "Exam.",
        },
        {
            "appointment_type_id": "cleaning",
            "name": "Cleaning",
            "duration_minutes": 60,
            "description": "Cleaning.",
        },
        {
            "appointment_type_id": "filling",
            "name": "Filling",
            "duration_minutes": 60,
            "description": "Filling.",
        },
        {
            "appointment_type_id": "whitening",
            "name": "Whitening",
            "duration_minutes": 90,
            "description": "Whitening.",
        },
    ],
    "insurance_accepted": ["Delta Dental PPO"],
    "payment_options": ["Cash"],
    "policies": {
        "new_patients": "Welcome.",
        "cancellation": "24 hours.",
        "late_arrival": "15 minutes.",
    },
    "faq": [{"question": "Parking?", "answer": "Behind the building."}],
    "booking_rules": {"min_notice_minutes": 120, "max_days_ahead": 30},
}

# Monday 2027-01-11, 08:00 in Chicago (CST, UTC-6): the in-process tests' "now".
TEST_NOW = datetime(2027, 1, 11, 14, 0, tzinfo=UTC)


@pytest.fixture
def clinic_document() -> dict[str, Any]:
    """A fresh, valid test clinic as a YAML-shaped dict, to change per test."""
    return copy.deepcopy(TEST_CLINIC)


@pytest.fixture
def test_clinic() -> Clinic:
    return Clinic.model_validate(TEST_CLINIC)


@pytest.fixture
def other_clinic() -> Clinic:
    document = copy.deepcopy(TEST_CLINIC)
    document["clinic_id"] = "other-clinic"
    document["name"] = "Other Dental"
    return Clinic.model_validate(document)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    """A Chicago wall-clock time on a day."""
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=CHICAGO)


@pytest.fixture
def at_local() -> Callable[..., datetime]:
    return local


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(TEST_NOW)


def make_settings(redis_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "scheduling_api_tokens": f"{TOKEN},{SECOND_TOKEN}",
        "slot_id_secret": SLOT_SECRET,
        "access_log": False,
        **overrides,
    }
    return Settings(**values)


@dataclass
class InProcessApi:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FakeClock


ApiFactory = Callable[..., Awaitable[InProcessApi]]


@pytest.fixture
async def api_factory(redis_url: str) -> AsyncIterator[ApiFactory]:
    """Build in-process apps: `await api_factory(clinics=..., clock=..., **settings)`."""
    async with AsyncExitStack() as stack:

        async def build(
            *,
            clinics: dict[str, Clinic] | None = None,
            clock: FakeClock | None = None,
            redis: str | None = None,
            token: str | None = TOKEN,
            **overrides: Any,
        ) -> InProcessApi:
            the_clock = clock or FakeClock(TEST_NOW)
            app = create_app(
                make_settings(redis or redis_url, **overrides), clinics=clinics, clock=the_clock
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://scheduling.test",
                    headers=headers,
                )
            )
            return InProcessApi(app, client, the_clock)

        yield build


@pytest.fixture
async def api(
    api_factory: ApiFactory, test_clinic: Clinic, other_clinic: Clinic, clock: FakeClock
) -> InProcessApi:
    """The test clinic (and a second one) served in-process at TEST_NOW."""
    return await api_factory(
        clinics={"test-clinic": test_clinic, "other-clinic": other_clinic}, clock=clock
    )


@pytest.fixture
def process_env(redis_url: str) -> dict[str, str]:
    """Environment for a real `scheduling-api` process on the shared redis-server."""
    return scheduling_api_env(redis_url, f"{TOKEN},{SECOND_TOKEN}", SLOT_SECRET, LOG_LEVEL="INFO")


@pytest.fixture
def auth_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def booking_body() -> Callable[..., dict[str, Any]]:
    """A valid booking request body for a slot id."""

    def build(
        slot_id: str, name: str = "Maria Garcia", phone: str = "(512) 555-0199"
    ) -> dict[str, Any]:
        return {
            "slot_id": slot_id,
            "patient": {"name": name, "phone": phone},
            "source": "voice-agent",
        }

    return build


@pytest.fixture(scope="session")
def server_pair(session_services: Any, redis_server: Any) -> tuple[Any, Any]:
    """Two real `scheduling-api` processes sharing the session's redis-server.

    Tests that use them also ask for `redis_url`, which empties the database first.
    """
    tokens = f"{TOKEN},{SECOND_TOKEN}"
    env = scheduling_api_env(redis_server.url, tokens, SLOT_SECRET, LOG_LEVEL="INFO")
    first = session_services.start(["scheduling-api"], name="scheduling-api-a", env=env)
    second = session_services.start(["scheduling-api"], name="scheduling-api-b", env=env)
    return first, second
