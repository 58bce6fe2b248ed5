"""Prometheus metrics (listed in docs/metrics.md), one registry per app.

Every label combination known in advance is created at startup so each series exists
from the first scrape. Labels are low-cardinality by construction: the route label
is one of the known paths or `other`, never a raw URL.
"""

from __future__ import annotations

from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Histogram

# Bucket edges sit on the latencies we alert on (50 ms, 100 ms, 250 ms, 1 s).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
STATUS_CLASSES = ("2xx", "4xx", "5xx")

ISSUE_ROUTE = "/v1/token"
KNOWN_ROUTES: dict[str, tuple[str, ...]] = {
    ISSUE_ROUTE: ("POST", "OPTIONS"),
    "/healthz": ("GET",),
    "/readyz": ("GET",),
    "/metrics": ("GET",),
    "/openapi.json": ("GET",),
    "/": ("GET",),
}
OTHER_ROUTE = "other"


class TokenOutcome(StrEnum):
    ISSUED = "issued"
    INVALID_REQUEST = "invalid_request"
    UNAUTHORIZED = "unauthorized"
    UNKNOWN_CLINIC = "unknown_clinic"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"


def route_label(path: str) -> str:
    return path if path in KNOWN_ROUTES else OTHER_ROUTE


def status_class(status: int) -> str:
    return f"{status // 100}xx"


class Metrics:
    """The service's metrics, registered in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.request_duration = Histogram(
            "token_service_http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route and status class.",
            ["method", "route", "status_class"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            "token_service_tokens_total",
            "Token requests by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "token_service_rate_limited_total",
            "Token requests refused by the per-client rate limit.",
            registry=self.registry,
        )
        for outcome in TokenOutcome:
            self.tokens.labels(outcome=outcome.value)
        for route, methods in KNOWN_ROUTES.items():
            for method in methods:
                for status in STATUS_CLASSES:
                    self.request_duration.labels(method=method, route=route, status_class=status)

    def count_token(self, outcome: TokenOutcome) -> None:
        self.tokens.labels(outcome=outcome.value).inc()
        if outcome is TokenOutcome.RATE_LIMITED:
            self.rate_limited.inc()

    def observe_request(self, method: str, path: str, status: int, seconds: float) -> None:
        self.request_duration.labels(
            method=method if method in {"GET", "POST", "OPTIONS", "HEAD"} else "other",
            route=route_label(path),
            status_class=status_class(status),
        ).observe(seconds)
