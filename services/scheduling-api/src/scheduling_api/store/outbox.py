"""The webhook outbox: one Redis Stream per clinic, written by the same Lua script as the
change it reports, so a change without its event (or an event without its change) cannot
exist. The dispatcher reads these streams through a consumer group.

Stream `sched:{c}:outbox`, one entry per event with fields:
- `id` the event id (`msg_…`), which is the `webhook-id` of every delivery of it
- `type` e.g. `booking.created`
- `at` when the change happened (ISO 8601)
- `data` the event's `data` object (JSON)
"""

from __future__ import annotations

import secrets

from scheduling_api.domain.webhooks import EventType

__all__ = ["EventType", "new_event_id", "outbox_key"]


def outbox_key(key_prefix: str, clinic_id: str) -> str:
    return f"{key_prefix}:{{{clinic_id}}}:outbox"


def new_event_id() -> str:
    """A Standard Webhooks message id: unique, stable across redeliveries."""
    return f"msg_{secrets.token_urlsafe(18)}"
