"""Every endpoint's happy and error paths, in-process, on a real redis-server.

"Now" is Monday 2027-01-11 08:00 in Chicago (see conftest), so with 120 minutes' notice
the first bookable time today is 10:00.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from scheduling_api.domain.slot_ids import SlotIdSigner, SlotRef

CLINIC = "/v1/clinics/test-clinic"
SLOT_SECRET = b"test-slot-secret-0123456789"

Body = Callable[..., dict[str, Any]]


async def slots(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"{CLINIC}/availability", params=params)
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()["slots"]
    return found


async def slot_at(client: httpx.AsyncClient, start: str, **params: Any) -> dict[str, Any]:
    """The slot starting at a local ISO time (e.g. "2027-01-12T10:00:00-06:00")."""
    params.setdefault("start_date", start[:10])
    params.setdefault("days", 1)
    params.setdefault("limit", 100)
    for slot in await slots(client, **params):
        if slot["start"] == start:
            return slot
    raise AssertionError(f"no free slot at {start}")


async def book(
    client: httpx.AsyncClient, body: dict[str, Any], key: str = "key-1"
) -> httpx.Response:
    return await client.post(f"{CLINIC}/bookings", json=body, headers={"Idempotency-Key": key})


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp())


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def assert_fields(response: httpx.Response, *fields: str) -> None:
    body = assert_error(response, 422, "validation_error")
    assert {f["field"] for f in body["fields"]} == set(fields), body


# -- clinics ----------------------------------------------------------------------------


async def test_list_clinics_and_profile(api: Any) -> None:
    listed = (await api.client.get("/v1/clinics")).json()
    assert {c["clinic_id"] for c in listed["clinics"]} == {"test-clinic", "other-clinic"}
    profile = (await api.client.get(CLINIC)).json()
    assert profile["timezone"] == "America/Chicago"
    assert profile["hours"]["sunday"] == []
    assert profile["booking_rules"]["min_notice_minutes"] == 120
    cleaning = next(
        t for t in profile["appointment_types"] if t["appointment_type_id"] == "cleaning"
    )
    assert cleaning["provider_ids"] == ["hyg-a", "hyg-b"]
    assert_error(await api.client.get("/v1/clinics/nope"), 404, "clinic_not_found")


async def test_min_notice_override_applies_and_is_published(
    api_factory: Any, test_clinic: Any
) -> None:
    served = await api_factory(clinics={"test-clinic": test_clinic}, min_notice_minutes=0)
    profile = (await served.client.get(CLINIC)).json()
    assert profile["booking_rules"]["min_notice_minutes"] == 0
    first = await slots(served.client, appointment_type="exam", limit=1)
    assert first[0]["start"] == "2027-01-11T08:00:00-06:00"  # now, not now + 2 hours


async def test_packaged_clinic_served_by_default(api_factory: Any) -> None:
    served = await api_factory()
    profile = (await served.client.get("/v1/clinics/bright-smile")).json()
    assert profile["name"] == "Bright Smile Dental"
    assert [p["provider_id"] for p in profile["providers"]] == [
        "dr-chen",
        "maria-lopez",
        "james-okafor",
    ]
    assert len(profile["faq"]) >= 8


# -- availability -----------------------------------------------------------------------


async def test_availability_defaults_to_today_after_the_notice(api: Any) -> None:
    response = await api.client.get(f"{CLINIC}/availability", params={"appointment_type": "exam"})
    body = response.json()
    assert len(body["slots"]) == 20
    first = body["slots"][0]
    assert first["start"] == "2027-01-11T10:00:00-06:00"
    assert first["end"] == "2027-01-11T10:30:00-06:00"
    assert first["provider_id"] == "dr-test"
    assert first["provider_name"] == "Dr. Test"
    assert first["appointment_type"] == "exam"
    assert body["next_available"] == first["start"]


async def test_availability_filters(api: Any) -> None:
    by_provider = await slots(
        api.client, appointment_type="cleaning", provider_id="hyg-b", start_date="2027-01-11"
    )
    assert {s["provider_id"] for s in by_provider} == {"hyg-b"}
    afternoons = await slots(
        api.client, appointment_type="exam", part_of_day="afternoon", days=3, limit=100
    )
    assert afternoons
    assert all("T13:00" <= s["start"][10:16] < "T17:00" for s in afternoons)
    limited = await slots(api.client, appointment_type="exam", limit=3)
    assert len(limited) == 3


async def test_next_available_when_the_window_is_empty(api: Any) -> None:
    # Neither hygienist works Thursday or Friday, the weekend is closed and Monday the
    # 18th is a holiday: the next cleaning is Tuesday the 19th with hygienist B.
    response = await api.client.get(
        f"{CLINIC}/availability",
        params={"appointment_type": "cleaning", "start_date": "2027-01-14", "days": 2},
    )
    assert response.json() == {"slots": [], "next_available": "2027-01-19T08:00:00-06:00"}


async def test_next_available_is_null_when_nothing_is_free_before_the_horizon(
    api: Any,
) -> None:
    # The book opens 30 days ahead (until Wednesday 2027-02-10); hygienist B works
    # Mondays and Tuesdays only, and the window is clipped at the horizon.
    response = await api.client.get(
        f"{CLINIC}/availability",
        params={
            "appointment_type": "cleaning",
            "provider_id": "hyg-b",
            "start_date": "2027-02-10",
            "days": 5,
        },
    )
    assert response.json() == {"slots": [], "next_available": None}
    clipped = await slots(api.client, appointment_type="exam", start_date="2027-02-10", days=5)
    assert clipped
    assert all(s["start"] < "2027-02-11" for s in clipped)


@pytest.mark.parametrize(
    ("params", "status", "code_or_field"),
    [
        ({"appointment_type": "laser"}, 404, "appointment_type_not_found"),
        ({"appointment_type": "exam", "provider_id": "dr-nobody"}, 404, "provider_not_found"),
        ({"appointment_type": "cleaning", "provider_id": "dr-test"}, 422, "provider_id"),
        ({}, 422, "appointment_type"),
        ({"appointment_type": "exam", "days": 0}, 422, "days"),
        ({"appointment_type": "exam", "days": 61}, 422, "days"),
        ({"appointment_type": "exam", "days": "a week"}, 422, "days"),
        ({"appointment_type": "exam", "limit": 0}, 422, "limit"),
        ({"appointment_type": "exam", "limit": 101}, 422, "limit"),
        ({"appointment_type": "exam", "start_date": "2027-01-10"}, 422, "start_date"),
        ({"appointment_type": "exam", "start_date": "2027-02-30"}, 422, "start_date"),
        ({"appointment_type": "exam", "start_date": "tomorrow"}, 422, "start_date"),
        ({"appointment_type": "exam", "start_date": "20270112"}, 422, "start_date"),
        ({"appointment_type": "exam", "start_date": "2027-03-01"}, 422, "start_date"),
        ({"appointment_type": "exam", "part_of_day": "night"}, 422, "part_of_day"),
    ],
)
async def test_availability_bad_input(
    api: Any, params: dict[str, Any], status: int, code_or_field: str
) -> None:
    response = await api.client.get(f"{CLINIC}/availability", params=params)
    if status == 404:
        body = assert_error(response, 404, code_or_field)
        assert str(next(iter(params.values()))) in body["message"] or body["message"]
    else:
        assert_fields(response, code_or_field)


async def test_unknown_clinic_is_404_naming_it(api: Any) -> None:
    response = await api.client.get(
        "/v1/clinics/smile-more/availability", params={"appointment_type": "exam"}
    )
    body = assert_error(response, 404, "clinic_not_found")
    assert "smile-more" in body["message"]
    assert body["clinic_id"] == "smile-more"


# -- booking ----------------------------------------------------------------------------


async def test_booking_a_slot(api: Any, booking_body: Body) -> None:
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="filling")
    response = await book(api.client, booking_body(slot["slot_id"], name="  Maria   Garcia "))
    assert response.status_code == 201, response.text
    booking = response.json()
    assert booking["booking_id"].startswith("bk_")
    assert response.headers["Location"].endswith(booking["booking_id"])
    assert "Idempotent-Replayed" not in response.headers
    assert booking["status"] == "confirmed"
    assert booking["clinic_id"] == "test-clinic"
    assert booking["start"] == "2027-01-12T10:00:00-06:00"
    assert booking["end"] == "2027-01-12T11:00:00-06:00"
    assert booking["provider_id"] == "dr-test"
    assert booking["provider_name"] == "Dr. Test"
    assert booking["appointment_type"] == "filling"
    assert booking["patient"] == {
        "name": "Maria Garcia",
        "phone": "+15125550199",
        "email": None,
        "date_of_birth": None,
    }
    assert booking["source"] == "voice-agent"
    assert booking["created_at"]
    assert booking["updated_at"]
    fetched = await api.client.get(f"{CLINIC}/bookings/{booking['booking_id']}")
    assert fetched.json() == booking


async def test_a_booking_blocks_overlapping_slots_of_every_type(
    api: Any, booking_body: Body
) -> None:
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="filling")
    assert (await book(api.client, booking_body(slot["slot_id"]))).status_code == 201
    exams = {s["start"][11:16] for s in await slots(
        api.client, appointment_type="exam", start_date="2027-01-12", days=1, limit=100
    )}  # fmt: skip
    assert "10:00" not in exams
    assert "10:30" not in exams
    assert {"09:30", "11:00"} <= exams
    whitening = {s["start"][11:16] for s in await slots(
        api.client, appointment_type="whitening", start_date="2027-01-12", days=1, limit=100
    )}  # fmt: skip
    assert "09:00" not in whitening
    assert "08:30" in whitening


async def test_idempotent_replay_and_key_reuse(api: Any, booking_body: Body) -> None:
    slot = await slot_at(api.client, "2027-01-12T09:00:00-06:00", appointment_type="exam")
    first = await book(api.client, booking_body(slot["slot_id"]), key="abc")
    # Same request, phone written differently: still the same request.
    replay = await book(
        api.client, booking_body(slot["slot_id"], phone="+1 512 555 0199"), key="abc"
    )
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    other = await book(api.client, booking_body(slot["slot_id"], name="Someone Else"), key="abc")
    assert_error(other, 422, "idempotency_key_reused")
    listed = await api.client.get(f"{CLINIC}/bookings", params={"date": "2027-01-12"})
    assert len(listed.json()["bookings"]) == 1


async def test_idempotency_header_is_required_and_bounded(api: Any, booking_body: Body) -> None:
    slot = (await slots(api.client, appointment_type="exam", limit=1))[0]
    missing = await api.client.post(f"{CLINIC}/bookings", json=booking_body(slot["slot_id"]))
    assert_error(missing, 400, "missing_idempotency_key")
    too_long = await book(api.client, booking_body(slot["slot_id"]), key="k" * 201)
    assert_fields(too_long, "Idempotency-Key")


async def test_taken_slot_is_409_with_nearest_alternatives(api: Any, booking_body: Body) -> None:
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    assert (await book(api.client, booking_body(slot["slot_id"]), key="a")).status_code == 201
    again = await book(api.client, booking_body(slot["slot_id"], name="Bob"), key="b")
    body = assert_error(again, 409, "slot_unavailable")
    starts = [s["start"] for s in body["alternatives"]]
    # Nearest to 10:00 either way (ties go to the earlier time), listed in time order.
    assert starts == [
        "2027-01-12T09:00:00-06:00",
        "2027-01-12T09:30:00-06:00",
        "2027-01-12T10:30:00-06:00",
    ]
    assert all(s["appointment_type"] == "exam" and s["slot_id"] for s in body["alternatives"])
    rebook = await book(api.client, booking_body(body["alternatives"][0]["slot_id"]), key="c")
    assert rebook.status_code == 201


async def test_the_same_patient_booking_their_own_slot_again_gets_that_booking(
    api: Any, booking_body: Body
) -> None:
    """A repeated booking by the same patient (phone and name, however written) for the
    slot and type they already hold is answered as that booking: 200, not a conflict."""
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    first = await book(api.client, booking_body(slot["slot_id"]), key="first")
    assert first.status_code == 201
    again = await book(
        api.client,
        booking_body(slot["slot_id"], name=" maria  GARCIA", phone="+1 512 555 0199"),
        key="second",
    )
    assert again.status_code == 200, again.text
    assert again.headers["Already-Booked"] == "true"
    assert again.json() == first.json()
    assert again.headers["Location"].endswith(first.json()["booking_id"])
    listed = await api.client.get(f"{CLINIC}/bookings", params={"date": "2027-01-12"})
    assert len(listed.json()["bookings"]) == 1

    # someone else on the same phone, or another type at that time: a real conflict
    sibling = await book(api.client, booking_body(slot["slot_id"], name="Leo Garcia"), key="c")
    assert_error(sibling, 409, "slot_unavailable")
    filling = await slot_at(api.client, "2027-01-12T08:00:00-06:00", appointment_type="filling")
    assert (await book(api.client, booking_body(filling["slot_id"]), key="d")).status_code == 201
    overlap = SlotIdSigner(SLOT_SECRET).sign(
        SlotRef("test-clinic", "dr-test", "exam", epoch("2027-01-12T08:00:00-06:00"))
    )
    assert_error(await book(api.client, booking_body(overlap), key="e"), 409, "slot_unavailable")


async def test_create_booking_documents_every_answer(api: Any) -> None:
    document = (await api.client.get("/openapi.json")).json()
    responses = document["paths"]["/v1/clinics/{clinic_id}/bookings"]["post"]["responses"]
    assert {"200", "201", "400", "409", "422"} <= set(responses)
    assert "Already-Booked" in responses["200"]["headers"]
    error = responses["409"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/ErrorOut")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda s: s[:-2] + ("AA" if not s.endswith("AA") else "BB"),
        lambda s: "Z" + s[1:] if not s.startswith("Z") else "Y" + s[1:],
        lambda s: "not-a-slot",
    ],
)
async def test_forged_slot_ids_are_invalid_slot(
    api: Any, booking_body: Body, mangle: Callable[[str], str]
) -> None:
    slot = (await slots(api.client, appointment_type="exam", limit=1))[0]
    assert_error(await book(api.client, booking_body(mangle(slot["slot_id"]))), 422, "invalid_slot")


async def test_slot_from_another_clinic_is_invalid(api: Any, booking_body: Body) -> None:
    response = await api.client.get(
        "/v1/clinics/other-clinic/availability", params={"appointment_type": "exam", "limit": 1}
    )
    foreign = response.json()["slots"][0]["slot_id"]
    assert_error(await book(api.client, booking_body(foreign)), 422, "invalid_slot")


async def test_stale_slot_is_slot_in_past(api: Any, booking_body: Body) -> None:
    slot = await slot_at(api.client, "2027-01-11T11:00:00-06:00", appointment_type="exam")
    api.clock.advance(timedelta(hours=2))  # 10:00 now: 11:00 is inside the notice
    body = assert_error(await book(api.client, booking_body(slot["slot_id"])), 422, "slot_in_past")
    assert body["alternatives"]
    assert all(a["start"] >= "2027-01-11T12" for a in body["alternatives"])


async def test_signed_slot_no_longer_in_the_schedule_is_409(api: Any, booking_body: Body) -> None:
    """A genuine id for a time the clinic does not offer (e.g. hours changed since)."""
    lunch = epoch("2027-01-12T12:00:00-06:00")
    slot_id = SlotIdSigner(SLOT_SECRET).sign(SlotRef("test-clinic", "dr-test", "exam", lunch))
    assert_error(await book(api.client, booking_body(slot_id)), 409, "slot_unavailable")


@pytest.mark.parametrize(
    ("patient", "fields"),
    [
        ({"name": "Maria", "phone": "555-1234"}, {"patient.phone"}),
        ({"name": "   ", "phone": "5125550199"}, {"patient.name"}),
        ({"name": "", "phone": ""}, {"patient.name", "patient.phone"}),
        ({"name": "Maria"}, {"patient.phone"}),
        ({"name": "Maria", "phone": "5125550199", "email": "nope"}, {"patient.email"}),
        (
            {"name": "Maria", "phone": "5125550199", "date_of_birth": "2030-01-01"},
            {"patient.date_of_birth"},
        ),
        (
            {"name": "Maria", "phone": "5125550199", "date_of_birth": "01/02/1990"},
            {"patient.date_of_birth"},
        ),
        ({"name": "Maria", "phone": 5125550199}, {"patient.phone"}),
    ],
)
async def test_bad_patient_details_are_422_naming_the_field(
    api: Any, patient: dict[str, Any], fields: set[str]
) -> None:
    slot = (await slots(api.client, appointment_type="exam", limit=1))[0]
    response = await book(api.client, {"slot_id": slot["slot_id"], "patient": patient})
    assert_fields(response, *fields)


async def test_malformed_booking_bodies(api: Any) -> None:
    headers = {"Idempotency-Key": "x", "Content-Type": "application/json"}
    not_json = await api.client.post(f"{CLINIC}/bookings", content=b"{nope", headers=headers)
    assert_fields(not_json, "body")
    no_slot = await api.client.post(
        f"{CLINIC}/bookings",
        json={"patient": {"name": "A", "phone": "5125550199"}},
        headers=headers,
    )
    assert_fields(no_slot, "slot_id")
    long_notes = await api.client.post(
        f"{CLINIC}/bookings",
        json={"slot_id": "x", "patient": {"name": "A", "phone": "1"}, "notes": "n" * 2001},
        headers=headers,
    )
    assert "notes" in {f["field"] for f in long_notes.json()["fields"]}


async def test_patient_details_are_stored_clean(api: Any) -> None:
    slot = (await slots(api.client, appointment_type="exam", limit=1))[0]
    response = await book(
        api.client,
        {
            "slot_id": slot["slot_id"],
            "patient": {
                "name": "X" * 300,
                "phone": "512 555 0100",
                "email": " maria@example.com ",
                "date_of_birth": "1985-04-12",
            },
            "notes": "  first visit\n\n nervous ",
        },
    )
    booking = response.json()
    assert len(booking["patient"]["name"]) == 100
    assert booking["patient"]["email"] == "maria@example.com"
    assert booking["patient"]["date_of_birth"] == "1985-04-12"
    assert booking["notes"] == "first visit nervous"
    assert booking["source"] == "api"


# -- reading bookings -------------------------------------------------------------------


async def test_find_bookings_by_phone_date_and_status(api: Any, booking_body: Body) -> None:
    day_one = await slot_at(api.client, "2027-01-12T09:00:00-06:00", appointment_type="exam")
    day_two = await slot_at(api.client, "2027-01-13T09:00:00-06:00", appointment_type="exam")
    other = await slot_at(api.client, "2027-01-13T10:00:00-06:00", appointment_type="exam")
    first = (await book(api.client, booking_body(day_one["slot_id"]), key="1")).json()
    second = (await book(api.client, booking_body(day_two["slot_id"]), key="2")).json()
    await book(api.client, booking_body(other["slot_id"], phone="5125550111"), key="3")
    await api.client.post(f"{CLINIC}/bookings/{first['booking_id']}/cancel")

    async def ids(**params: Any) -> list[str]:
        response = await api.client.get(f"{CLINIC}/bookings", params=params)
        assert response.status_code == 200, response.text
        return [b["booking_id"] for b in response.json()["bookings"]]

    assert await ids(phone="(512) 555-0199") == [first["booking_id"], second["booking_id"]]
    assert await ids(phone="+15125550199", date="2027-01-13") == [second["booking_id"]]
    assert await ids(phone="512.555.0199", status="confirmed") == [second["booking_id"]]
    assert await ids(status="cancelled") == [first["booking_id"]]
    assert len(await ids(date="2027-01-13")) == 2
    assert len(await ids()) == 3
    assert len(await ids(limit=1)) == 1
    assert await ids(phone="5125550000") == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"phone": "12"}, "phone"),
        ({"date": "2027-13-01"}, "date"),
        ({"date": "13/01/2027"}, "date"),
        ({"status": "done"}, "status"),
        ({"limit": 0}, "limit"),
    ],
)
async def test_find_bookings_bad_input(api: Any, params: dict[str, Any], field: str) -> None:
    assert_fields(await api.client.get(f"{CLINIC}/bookings", params=params), field)


async def test_unknown_booking_is_404(api: Any) -> None:
    body = assert_error(
        await api.client.get(f"{CLINIC}/bookings/bk_nope"), 404, "booking_not_found"
    )
    assert "bk_nope" in body["message"]
    for action, payload in (("cancel", {}), ("reschedule", {"slot_id": "x"})):
        response = await api.client.post(f"{CLINIC}/bookings/bk_nope/{action}", json=payload)
        assert_error(response, 404, "booking_not_found")


# -- cancel -----------------------------------------------------------------------------


async def test_cancel_frees_the_slot_and_is_idempotent(api: Any, booking_body: Body) -> None:
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    booking = (await book(api.client, booking_body(slot["slot_id"]), key="1")).json()
    cancelled = await api.client.post(
        f"{CLINIC}/bookings/{booking['booking_id']}/cancel", json={"reason": " caller is ill "}
    )
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_reason"] == "caller is ill"
    assert cancelled.json()["cancelled_at"]
    again = await api.client.post(f"{CLINIC}/bookings/{booking['booking_id']}/cancel")
    assert again.status_code == 200
    assert again.json() == cancelled.json()
    # The time is free again and can be booked by someone else.
    freed = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    assert (
        await book(api.client, booking_body(freed["slot_id"], name="Bob"), key="2")
    ).status_code == 201
    # The cancelled booking is still there (a status change, never a delete).
    kept = await api.client.get(f"{CLINIC}/bookings/{booking['booking_id']}")
    assert kept.json()["status"] == "cancelled"


# -- reschedule -------------------------------------------------------------------------


async def test_reschedule_moves_and_links(api: Any, booking_body: Body) -> None:
    old_slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    old = (await book(api.client, booking_body(old_slot["slot_id"]), key="1")).json()
    new_slot = await slot_at(api.client, "2027-01-13T14:00:00-06:00", appointment_type="exam")
    moved = await api.client.post(
        f"{CLINIC}/bookings/{old['booking_id']}/reschedule", json={"slot_id": new_slot["slot_id"]}
    )
    assert moved.status_code == 200, moved.text
    new = moved.json()
    assert new["booking_id"] != old["booking_id"]
    assert new["rescheduled_from"] == old["booking_id"]
    assert new["status"] == "confirmed"
    assert new["start"] == "2027-01-13T14:00:00-06:00"
    assert new["patient"] == old["patient"]
    previous = (await api.client.get(f"{CLINIC}/bookings/{old['booking_id']}")).json()
    assert previous["status"] == "rescheduled"
    assert previous["rescheduled_to"] == new["booking_id"]
    await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")  # freed
    taken = {s["start"] for s in await slots(
        api.client, appointment_type="exam", start_date="2027-01-13", days=1, limit=100
    )}  # fmt: skip
    assert "2027-01-13T14:00:00-06:00" not in taken
    # Old booking is no longer active.
    again = await api.client.post(
        f"{CLINIC}/bookings/{old['booking_id']}/reschedule", json={"slot_id": old_slot["slot_id"]}
    )
    body = assert_error(again, 409, "booking_not_active")
    assert body["rescheduled_to"] == new["booking_id"]
    cancel_old = await api.client.post(f"{CLINIC}/bookings/{old['booking_id']}/cancel")
    assert_error(cancel_old, 409, "booking_not_active")


async def test_reschedule_to_a_taken_slot_leaves_the_booking_untouched(
    api: Any, booking_body: Body
) -> None:
    mine_slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    theirs_slot = await slot_at(api.client, "2027-01-12T14:00:00-06:00", appointment_type="exam")
    mine = (await book(api.client, booking_body(mine_slot["slot_id"]), key="1")).json()
    await book(api.client, booking_body(theirs_slot["slot_id"], name="Bob"), key="2")
    response = await api.client.post(
        f"{CLINIC}/bookings/{mine['booking_id']}/reschedule",
        json={"slot_id": theirs_slot["slot_id"]},
    )
    body = assert_error(response, 409, "slot_unavailable")
    assert len(body["alternatives"]) == 3
    unchanged = (await api.client.get(f"{CLINIC}/bookings/{mine['booking_id']}")).json()
    assert unchanged == mine
    free = {s["start"] for s in await slots(
        api.client, appointment_type="exam", start_date="2027-01-12", days=1, limit=100
    )}  # fmt: skip
    assert "2027-01-12T10:00:00-06:00" not in free


async def test_reschedule_into_its_own_interval(api: Any, booking_body: Body) -> None:
    """10:00-11:00 → 10:30-11:30 overlaps only the booking being moved: allowed."""
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="filling")
    booking = (await book(api.client, booking_body(slot["slot_id"]), key="1")).json()
    later = SlotIdSigner(SLOT_SECRET).sign(
        SlotRef("test-clinic", "dr-test", "filling", epoch("2027-01-12T10:30:00-06:00"))
    )
    moved = await api.client.post(
        f"{CLINIC}/bookings/{booking['booking_id']}/reschedule", json={"slot_id": later}
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["start"] == "2027-01-12T10:30:00-06:00"


async def test_reschedule_idempotency_and_type_check(api: Any, booking_body: Body) -> None:
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    booking = (await book(api.client, booking_body(slot["slot_id"]), key="1")).json()
    target = await slot_at(api.client, "2027-01-12T15:00:00-06:00", appointment_type="exam")
    url = f"{CLINIC}/bookings/{booking['booking_id']}/reschedule"
    headers = {"Idempotency-Key": "move-1"}
    first = await api.client.post(url, json={"slot_id": target["slot_id"]}, headers=headers)
    second = await api.client.post(url, json={"slot_id": target["slot_id"]}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    filling = await slot_at(api.client, "2027-01-13T08:00:00-06:00", appointment_type="filling")
    wrong_type = await api.client.post(
        f"{CLINIC}/bookings/{first.json()['booking_id']}/reschedule",
        json={"slot_id": filling["slot_id"]},
    )
    assert_error(wrong_type, 422, "invalid_slot")


async def test_reschedule_a_cancelled_booking_is_409(api: Any, booking_body: Body) -> None:
    slot = await slot_at(api.client, "2027-01-12T10:00:00-06:00", appointment_type="exam")
    booking = (await book(api.client, booking_body(slot["slot_id"]), key="1")).json()
    await api.client.post(f"{CLINIC}/bookings/{booking['booking_id']}/cancel")
    target = await slot_at(api.client, "2027-01-12T11:00:00-06:00", appointment_type="exam")
    response = await api.client.post(
        f"{CLINIC}/bookings/{booking['booking_id']}/reschedule", json={"slot_id": target["slot_id"]}
    )
    assert assert_error(response, 409, "booking_not_active")["status"] == "cancelled"


# -- callbacks --------------------------------------------------------------------------


async def test_callbacks(api: Any) -> None:
    created = await api.client.post(
        f"{CLINIC}/callbacks",
        json={
            "name": " Maria  Garcia ",
            "phone": "(512) 555-0199",
            "reason": "billing question",
            "preferred_time": "after 3pm",
            "source": "voice-agent",
        },
    )
    assert created.status_code == 201, created.text
    callback = created.json()
    assert callback["callback_id"].startswith("cb_")
    assert callback["status"] == "open"
    assert callback["clinic_id"] == "test-clinic"
    assert callback["name"] == "Maria Garcia"
    assert callback["phone"] == "+15125550199"
    assert callback["preferred_time"] == "after 3pm"
    assert callback["created_at"]
    api.clock.advance(timedelta(minutes=1))
    second = (
        await api.client.post(f"{CLINIC}/callbacks", json={"name": "B", "phone": "5125550111"})
    ).json()
    assert second["reason"] is None
    assert second["source"] == "api"

    async def listed(**params: Any) -> list[str]:
        response = await api.client.get(f"{CLINIC}/callbacks", params=params)
        return [c["callback_id"] for c in response.json()["callbacks"]]

    assert await listed(status="open") == [callback["callback_id"], second["callback_id"]]
    resolved = await api.client.post(f"{CLINIC}/callbacks/{callback['callback_id']}/resolve")
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    again = await api.client.post(f"{CLINIC}/callbacks/{callback['callback_id']}/resolve")
    assert again.json() == resolved.json()
    assert await listed(status="open") == [second["callback_id"]]
    assert await listed(status="resolved") == [callback["callback_id"]]
    assert len(await listed()) == 2


async def test_callback_errors(api: Any) -> None:
    assert_error(
        await api.client.post(f"{CLINIC}/callbacks/cb_nope/resolve"), 404, "callback_not_found"
    )
    assert_fields(
        await api.client.post(f"{CLINIC}/callbacks", json={"name": " ", "phone": "12"}),
        "name",
        "phone",
    )
    assert_fields(
        await api.client.post(f"{CLINIC}/callbacks", json={"phone": "5125550199"}), "name"
    )
    assert_fields(await api.client.get(f"{CLINIC}/callbacks", params={"status": "x"}), "status")


# -- auth, operations, never-500 --------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dGVzdC10b2tlbi1hbHBoYTo="},
        {"Authorization": "Bearer"},
        {"Authorization": "test-token-alpha"},
    ],
)
async def test_v1_routes_need_an_accepted_token(
    api_factory: Any, test_clinic: Any, headers: dict[str, str]
) -> None:
    served = await api_factory(clinics={"test-clinic": test_clinic}, token=None)
    for method, path in [
        ("GET", "/v1/clinics"),
        ("GET", CLINIC),
        ("GET", f"{CLINIC}/availability?appointment_type=exam"),
        ("POST", f"{CLINIC}/bookings"),
        ("GET", f"{CLINIC}/bookings"),
        ("GET", f"{CLINIC}/bookings/bk_1"),
        ("POST", f"{CLINIC}/bookings/bk_1/cancel"),
        ("POST", f"{CLINIC}/bookings/bk_1/reschedule"),
        ("POST", f"{CLINIC}/callbacks"),
        ("GET", f"{CLINIC}/callbacks"),
        ("POST", f"{CLINIC}/callbacks/cb_1/resolve"),
        ("GET", "/v1/clinics/unknown"),
    ]:
        response = await served.client.request(method, path, headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"] == "Bearer"


async def test_every_configured_token_works_and_ops_routes_are_open(
    api_factory: Any, test_clinic: Any
) -> None:
    served = await api_factory(clinics={"test-clinic": test_clinic}, token=None)
    for token in ("test-token-alpha", "test-token-bravo"):
        response = await served.client.get(CLINIC, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200
    for path in ("/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"):
        assert (await served.client.get(path)).status_code == 200, path
    assert (await served.client.get("/healthz")).json() == {"status": "ok"}
    checks = (await served.client.get("/readyz")).json()["checks"]
    assert checks["redis"] == "ok"
    assert checks["change_feed"] in {"following", "down"}


async def test_insecure_dev_mode_without_tokens(
    api_factory: Any, test_clinic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = await api_factory(
        clinics={"test-clinic": test_clinic},
        token=None,
        scheduling_api_tokens="",
        slot_id_secret=None,
        scheduling_api_insecure_dev=True,
    )
    assert (await served.client.get(CLINIC)).status_code == 200


async def test_unknown_routes_and_methods_answer_json(api: Any) -> None:
    assert_error(await api.client.get("/v2/whatever"), 404, "not_found")
    assert_error(await api.client.delete(f"{CLINIC}/bookings"), 405, "method_not_allowed")


async def test_request_id_is_echoed_or_generated(api: Any) -> None:
    echoed = await api.client.get("/healthz", headers={"X-Request-ID": "call-42.turn-3"})
    assert echoed.headers["X-Request-ID"] == "call-42.turn-3"
    generated = await api.client.get("/healthz", headers={"X-Request-ID": "bad id\twith space"})
    assert generated.headers["X-Request-ID"] != "bad id\twith space"
    assert len(generated.headers["X-Request-ID"]) == 16


async def test_redis_down_is_503_not_500(api_factory: Any, test_clinic: Any) -> None:
    served = await api_factory(
        clinics={"test-clinic": test_clinic},
        redis="redis://127.0.0.1:1/0",
        redis_timeout_seconds=0.5,
    )
    ready = await served.client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable"
    assert "redis" in ready.json()["checks"]
    availability = await served.client.get(
        f"{CLINIC}/availability", params={"appointment_type": "exam"}
    )
    assert_error(availability, 503, "store_unavailable")
    assert (await served.client.get("/healthz")).status_code == 200


async def test_a_bug_is_a_generic_500_and_is_logged(
    api: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(api.app.state.context.scheduler.search, "availability", broken)
    response = await api.client.get(f"{CLINIC}/availability", params={"appointment_type": "exam"})
    body = assert_error(response, 500, "internal_error")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "simulated" not in response.text
    [logged] = [r for r in caplog.records if r.name == "scheduling_api.errors"]
    assert "simulated bug" in (logged.exc_text or str(logged.exc_info))
    assert logged.error_id == body["error_id"]  # type: ignore[attr-defined]


PATIENT = {"name": "a", "phone": "5125550199"}
BAD_REQUESTS: list[tuple[str, str, Any]] = [
    ("GET", f"{CLINIC}/availability?appointment_type=exam&days=-1", None),
    ("GET", f"{CLINIC}/availability?appointment_type=exam&days=1e9", None),
    ("GET", f"{CLINIC}/availability?appointment_type=exam&start_date=9999-99-99", None),
    ("GET", f"{CLINIC}/availability?appointment_type=exam&start_date=0001-01-01", None),
    ("GET", f"{CLINIC}/availability?appointment_type=%00%ff", None),
    ("GET", f"{CLINIC}/availability?appointment_type=exam&provider_id=" + "x" * 500, None),
    ("GET", f"{CLINIC}/bookings?phone=%2B%2B%2B", None),
    ("GET", f"{CLINIC}/bookings?date=0000-00-00", None),
    ("POST", f"{CLINIC}/bookings", []),
    ("POST", f"{CLINIC}/bookings", {"slot_id": None, "patient": None}),
    ("POST", f"{CLINIC}/bookings", {"slot_id": "a" * 400 + ".b", "patient": PATIENT}),
    ("POST", f"{CLINIC}/bookings", {"slot_id": "YQ." + "YWFh" * 5 + "YQ", "patient": PATIENT}),
    ("POST", f"{CLINIC}/bookings", {"slot_id": "x", "patient": {"name": ["a"], "phone": {}}}),
    ("POST", f"{CLINIC}/bookings/bk_x/cancel", {"reason": 5}),
    ("POST", f"{CLINIC}/bookings/bk_x/cancel", "just a string"),
    ("POST", f"{CLINIC}/bookings/bk_x/reschedule", {}),
    ("POST", f"{CLINIC}/callbacks", {"name": "a" * 10_000, "phone": "5125550199"}),
    ("POST", f"{CLINIC}/callbacks", {**PATIENT, "preferred_time": "x" * 201}),
    ("GET", f"{CLINIC}/callbacks?limit=abc", None),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "payload"), BAD_REQUESTS)
async def test_bad_input_is_never_a_500(api: Any, method: str, path: str, payload: Any) -> None:
    response = await api.client.request(
        method, path, json=payload, headers={"Idempotency-Key": "k"}
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]
    assert response.json()["message"]


async def test_metrics_names_and_preinitialised_series(api: Any, booking_body: Body) -> None:
    text = (await api.client.get("/metrics")).text
    for outcome in ("created", "conflict", "idempotent_replay", "cancelled", "rescheduled"):
        assert f'scheduling_api_bookings_total{{outcome="{outcome}"}}' in text
    assert "scheduling_api_callbacks_total" in text
    assert (
        'scheduling_api_http_request_duration_seconds_bucket{le="0.025",method="POST",'
        'route="/v1/clinics/{clinic_id}/bookings/{booking_id}/reschedule",status_class="4xx"}'
    ) in text
    await api.client.get(f"{CLINIC}/bookings/bk_123")
    after = (await api.client.get("/metrics")).text
    assert "bk_123" not in after  # ids never become label values
    assert 'route="/v1/clinics/{clinic_id}/bookings/{booking_id}",status_class="4xx"' in after
