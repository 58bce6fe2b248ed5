"""Prometheus metrics (names are fixed by the contract: dashboards and alerts use them)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram, disable_created_metrics

# The `_created` timestamp series double the output and no dashboard reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# An edge on every latency objective: 25 ms is the availability p99 target.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STATUS_CLASSES = ("2xx", "4xx", "5xx")
BOOKING_OUTCOMES = (
    "created",
    "conflict",
    "idempotent_replay",
    "already_booked",
    "cancelled",
    "rescheduled",
)
UNMATCHED_ROUTE = "unmatched"

REQUEST_DURATION = Histogram(
    "scheduling_api_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template and status class.",
    ["method", "route", "status_class"],
    buckets=LATENCY_BUCKETS,
)
BOOKINGS = Counter(
    "scheduling_api_bookings",
    "Booking attempts and changes by outcome.",
    ["outcome"],
)
CALLBACKS = Counter(
    "scheduling_api_callbacks",
    "Callback requests created.",
)
CALL_RECORDS = Counter(
    "scheduling_api_call_records",
    "Call records posted: `created` stored a new one, `replayed` repeated a stored call id.",
    ["outcome"],
)
CALL_RECORD_OUTCOMES = ("created", "replayed")


def preinitialise(routes: Iterable[tuple[str, str]]) -> None:
    """Create every known series at zero so the first scrape already has them all."""
    for method, route in routes:
        for status_class in STATUS_CLASSES:
            REQUEST_DURATION.labels(method, route, status_class)
    for outcome in BOOKING_OUTCOMES:
        BOOKINGS.labels(outcome)
    for outcome in CALL_RECORD_OUTCOMES:
        CALL_RECORDS.labels(outcome)


def status_class(status: int) -> str:
    return f"{status // 100}xx"
