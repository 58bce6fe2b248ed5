"""Call records: stored once per call id, read back by day/outcome/phone, transcripts kept
only where the clinic opts in (and deleted by expiry), each with its call.completed event.
In-process app on a real redis-server."""

from __future__ import annotations

import json
from typing import Any

import pytest
from redis import Redis
from scheduling_api.domain.clinic import Clinic

CALLS = "/v1/clinics/test-clinic/calls"


def report(call_id: str = "RM_first", **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "call_id": call_id,
        "channel": "web",
        "started_at": "2027-01-11T15:00:00Z",
        "ended_at": "2027-01-11T15:03:10Z",
        "caller_phone": "+15125550142",
        "patient_name": "Ana Ruiz",
        "outcome": "booked",
        "booking_ids": ["bk_1"],
        "callback_ids": [],
        "latency": {"turns": 6, "p50_ms": 1040.0, "p95_ms": 1600.0, "worst_ms": 1710.0},
        "summary": "Ana booked a cleaning. She is a new patient.",
        "reason": "cleaning",
        "patient_status": "new",
        "urgency": "routine",
        "transcript": [
            {"role": "caller", "text": "I'd like a cleaning.", "at": "2027-01-11T15:00:05Z"},
            {"role": "agent", "text": "Sure, when suits you?", "at": "2027-01-11T15:00:07Z"},
        ],
    }
    body.update(changes)
    return body


def clinic_keeping_transcripts(document: dict[str, Any], days: int) -> Clinic:
    document["call_records"] = {"store_transcripts": True, "transcript_retention_days": days}
    return Clinic.model_validate(document)


def outbox(redis_url: str, clinic_id: str = "test-clinic") -> list[dict[str, str]]:
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        entries = client.xrange(f"sched:{{{clinic_id}}}:outbox")
    finally:
        client.close()
    return [fields for _, fields in entries]


async def test_a_call_is_stored_once_and_read_back(api: Any, redis_url: str) -> None:
    created = await api.client.post(CALLS, json=report())
    assert created.status_code == 201, created.text
    record = created.json()
    assert record["clinic_id"] == "test-clinic"
    assert record["duration_seconds"] == 190.0
    assert record["transcript"] is None  # the test clinic does not keep transcripts
    assert record["latency"]["p95_ms"] == 1600.0

    retried = await api.client.post(CALLS, json=report(outcome="failed", summary=None))
    assert retried.status_code == 200, retried.text
    assert retried.json() == record  # the first write wins

    fetched = await api.client.get(f"{CALLS}/RM_first")
    assert fetched.status_code == 200
    assert fetched.json() == record
    events = outbox(redis_url)
    assert [e["type"] for e in events] == ["call.completed"]  # one event, not one per post
    assert json.loads(events[0]["data"])["call_id"] == "RM_first"
    assert events[0]["id"].startswith("msg_")


async def test_unknown_call_is_404(api: Any) -> None:
    response = await api.client.get(f"{CALLS}/RM_missing")
    assert response.status_code == 404
    assert response.json()["error"] == "call_not_found"


async def test_listing_filters_by_clinic_day_outcome_and_phone(api: Any) -> None:
    # 2027-01-12T04:30Z is still the 11th in Chicago (UTC-6)
    posts = [
        report("RM_a", started_at="2027-01-11T15:00:00Z", ended_at="2027-01-11T15:01:00Z"),
        report(
            "RM_b",
            started_at="2027-01-12T04:30:00Z",
            ended_at="2027-01-12T04:31:00Z",
            outcome="callback_requested",
            caller_phone="+15125550199",
        ),
        report(
            "RM_c",
            started_at="2027-01-12T15:00:00Z",
            ended_at="2027-01-12T15:02:00Z",
            caller_phone=None,
            outcome="abandoned",
        ),
    ]
    for body in posts:
        assert (await api.client.post(CALLS, json=body)).status_code == 201

    async def ids(**params: str) -> list[str]:
        response = await api.client.get(CALLS, params=params)
        assert response.status_code == 200, response.text
        return [call["call_id"] for call in response.json()["calls"]]

    assert await ids() == ["RM_c", "RM_b", "RM_a"]  # newest first
    assert await ids(date="2027-01-11") == ["RM_b", "RM_a"]
    assert await ids(date="2027-01-12") == ["RM_c"]
    assert await ids(outcome="abandoned") == ["RM_c"]
    assert await ids(phone="(512) 555-0142") == ["RM_a"]
    assert await ids(phone="+15125550199", date="2027-01-12") == []
    assert await ids(outcome="booked", date="2027-01-11") == ["RM_a"]
    other = await api.client.get("/v1/clinics/other-clinic/calls")
    assert other.json() == {"calls": []}


async def test_bad_queries_are_422_with_the_reason(api: Any) -> None:
    for params in ({"date": "2027-02-30"}, {"outcome": "lunch"}, {"phone": "not a phone"}):
        response = await api.client.get(CALLS, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"] == "validation_error"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"call_id": "RM bad id"}, "call_id"),
        ({"call_id": "x" * 129}, "call_id"),
        ({"channel": "fax"}, "channel"),
        ({"outcome": "maybe"}, "outcome"),
        ({"caller_phone": "512-555-0142"}, "caller_phone"),
        ({"patient_name": "n" * 101}, "patient_name"),
        ({"started_at": "2027-01-11T15:00:00"}, "started_at"),
        ({"ended_at": "2027-01-11T14:00:00Z"}, "body"),
        ({"ended_at": "2027-01-12T16:00:00Z"}, "body"),
        ({"started_at": "0001-01-01T00:00:00Z"}, "started_at"),
        ({"latency": {"turns": 0, "p50_ms": 5.0, "p95_ms": None, "worst_ms": None}}, "latency"),
        ({"latency": {"turns": 2, "p50_ms": None, "p95_ms": None, "worst_ms": None}}, "latency"),
        ({"urgency": "whenever"}, "urgency"),
        ({"unexpected": 1}, "unexpected"),
    ],
)
async def test_bad_records_are_422_naming_the_field_and_store_nothing(
    api: Any, redis_url: str, changes: dict[str, Any], field: str
) -> None:
    response = await api.client.post(CALLS, json=report(**changes))
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert any(problem["field"].startswith(field) for problem in body["fields"]), body
    assert (await api.client.get(CALLS)).json() == {"calls": []}
    assert outbox(redis_url) == []


async def test_malformed_json_is_refused_with_the_reason(api: Any) -> None:
    response = await api.client.post(
        CALLS, content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "JSON" in response.json()["message"]


async def test_no_figures_when_no_turn_was_timed(api: Any) -> None:
    body = report(latency={"turns": 0, "p50_ms": None, "p95_ms": None, "worst_ms": None})
    response = await api.client.post(CALLS, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["latency"]["worst_ms"] is None


async def test_transcript_is_kept_for_the_retention_only_where_opted_in(
    api_factory: Any, redis_url: str, clinic_document: dict[str, Any]
) -> None:
    clinic = clinic_keeping_transcripts(clinic_document, days=7)
    keeping = await api_factory(clinics={"test-clinic": clinic})
    created = (await keeping.client.post(CALLS, json=report())).json()
    assert [line["role"] for line in created["transcript"]] == ["caller", "agent"]
    fetched = (await keeping.client.get(f"{CALLS}/RM_first")).json()
    assert fetched["transcript"] == created["transcript"]
    # lists never carry transcripts
    listed = (await keeping.client.get(CALLS)).json()["calls"]
    assert listed[0]["transcript"] is None

    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        transcript_ttl = client.ttl("sched:{test-clinic}:call:RM_first:transcript")
        record_ttl = client.ttl("sched:{test-clinic}:call:RM_first")
        assert 7 * 86400 - 60 < transcript_ttl <= 7 * 86400
        assert 365 * 86400 - 60 < record_ttl <= 365 * 86400
        # the record itself holds no transcript: only the expiring key does
        assert "when suits you" not in client.hget("sched:{test-clinic}:call:RM_first", "doc")
        client.delete("sched:{test-clinic}:call:RM_first:transcript")  # what expiry does
    finally:
        client.close()
    expired = (await keeping.client.get(f"{CALLS}/RM_first")).json()
    assert expired["transcript"] is None
    assert expired["summary"] == created["summary"]


async def test_transcript_is_dropped_where_not_opted_in(api: Any, redis_url: str) -> None:
    assert (await api.client.post(CALLS, json=report())).status_code == 201
    client = Redis.from_url(redis_url, decode_responses=True)
    try:
        assert not client.exists("sched:{test-clinic}:call:RM_first:transcript")
        assert "when suits you" not in client.hget("sched:{test-clinic}:call:RM_first", "doc")
        assert "when suits you" not in json.dumps(outbox(redis_url))
    finally:
        client.close()


def test_transcript_retention_cannot_outlive_the_record(clinic_document: dict[str, Any]) -> None:
    document = clinic_document
    document["call_records"] = {"transcript_retention_days": 400, "record_retention_days": 365}
    with pytest.raises(ValueError, match="transcript_retention_days"):
        Clinic.model_validate(document)


async def test_calls_need_the_bearer_token(api_factory: Any, test_clinic: Clinic) -> None:
    anonymous = await api_factory(clinics={"test-clinic": test_clinic}, token=None)
    assert (await anonymous.client.post(CALLS, json=report())).status_code == 401
    assert (await anonymous.client.get(CALLS)).status_code == 401
