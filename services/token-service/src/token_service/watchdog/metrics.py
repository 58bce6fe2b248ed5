"""The watchdog's Prometheus series, in the token service's registry. No room or caller
labels: an outcome label with a fixed set of values only."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

ABANDON_REASONS = ("retries_exhausted", "caller_left")
# how a receptionist lost mid-call was noticed: its worker's heartbeat stopped, or LiveKit
# reported it gone (its connection timed out, ~20 s after the worker died)
LOSS_DETECTORS = ("heartbeat", "livekit")


class WatchdogMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.retries = Counter(
            "dispatch_watchdog_retries_total",
            "Receptionist dispatches the watchdog made again for a caller left alone.",
            registry=registry,
        )
        self.waited = Counter(
            "dispatch_watchdog_callers_waited_total",
            "Callers who waited more than 5 s without a receptionist.",
            registry=registry,
        )
        self.abandoned = Counter(
            "dispatch_watchdog_callers_abandoned_total",
            "Callers who never got a receptionist: the retries ran out, or they hung up "
            "while waiting.",
            ["reason"],
            registry=registry,
        )
        self.served_after_wait = Counter(
            "dispatch_watchdog_callers_served_after_hold_total",
            "Callers told to hold who then got a receptionist.",
            registry=registry,
        )
        self.leader = Gauge(
            "dispatch_watchdog_leader",
            "1 on the replica currently running the watchdog.",
            registry=registry,
        )
        self.tracked = Gauge(
            "dispatch_watchdog_rooms_tracked",
            "Rooms waiting for a receptionist (seen by the leader).",
            registry=registry,
        )
        self.lost = Counter(
            "dispatch_watchdog_receptionists_lost_total",
            "Receptionists lost mid-call (their worker died), by what noticed it first.",
            ["detected_by"],
            registry=registry,
        )
        for reason in ABANDON_REASONS:
            self.abandoned.labels(reason=reason)
        for detector in LOSS_DETECTORS:
            self.lost.labels(detected_by=detector)
