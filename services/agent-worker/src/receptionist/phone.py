"""Phone numbers as callers say them → E.164 (pure)."""

from __future__ import annotations

import phonenumbers


def normalize_phone(raw: str, region: str) -> str | None:
    """ "(512) 555-0142" → "+15125550142"; None when it is not a valid number."""
    try:
        parsed = phonenumbers.parse(raw, region.upper() or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
