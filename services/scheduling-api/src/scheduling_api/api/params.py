"""Query parameter helpers shared by routers."""

from __future__ import annotations

from datetime import date

from scheduling_api.errors import invalid_fields

DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"


def parse_day(field: str, value: str | None) -> date | None:
    """A strict YYYY-MM-DD calendar date (the pattern is checked by the query model)."""
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise invalid_fields((field, f"{value!r} is not a calendar date (YYYY-MM-DD)")) from exc
