"""The dispatcher's metrics (served on DISPATCH_METRICS_PORT; names are the contract the
chart's alert and dashboard use)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

DELIVERY_OUTCOMES = ("delivered", "retrying", "dead_lettered", "skipped")

DELIVERIES = Counter(
    "scheduling_dispatch_deliveries",
    "Webhook delivery attempts by outcome: delivered, retrying (failed, will retry), "
    "dead_lettered (failed past the retry horizon), skipped (event not subscribed).",
    ["outcome"],
)
OLDEST_UNDELIVERED = Gauge(
    "scheduling_dispatch_oldest_undelivered_seconds",
    "Age of the oldest event some endpoint has not received yet (0 when none waits).",
)
DEAD_LETTERS = Gauge(
    "scheduling_dispatch_dead_letters",
    "Deliveries that failed past the retry horizon and wait for a redelivery.",
)
ENDPOINTS = Gauge(
    "scheduling_dispatch_endpoints",
    "Webhook endpoints configured, over all clinics.",
)


def preinitialise() -> None:
    for outcome in DELIVERY_OUTCOMES:
        DELIVERIES.labels(outcome)
