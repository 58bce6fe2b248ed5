"""Cleaning what callers say about themselves: phone numbers, names, free text.

A voice agent transcribes these, so they arrive with stray spaces, punctuation and
national formats. Phones are stored in E.164 so "(512) 555-0199" and "+1 512 555 0199"
find the same bookings.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

NAME_MAX_LENGTH = 100
_WHITESPACE = re.compile(r"\s+")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")


def normalize_phone(raw: str, default_region: str) -> str:
    """E.164 form of a phone number, read as national for `default_region` if no +code."""
    if len(raw) > 40:
        raise ValueError("phone number is too long")
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError("not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def clean_text(raw: str) -> str:
    """NFC-normalised text without control characters, whitespace runs collapsed."""
    normalised = unicodedata.normalize("NFC", raw)
    printable = "".join(
        " " if unicodedata.category(char).startswith("C") else char for char in normalised
    )
    return _WHITESPACE.sub(" ", printable).strip()


def optional_text(value: str | None) -> str | None:
    """Cleaned free text, with blank treated as absent."""
    if value is None:
        return None
    return clean_text(value) or None


def clean_name(raw: str) -> str:
    """A person's name trimmed, collapsed and capped at NAME_MAX_LENGTH characters."""
    name = clean_text(raw)[:NAME_MAX_LENGTH].rstrip()
    if not name:
        raise ValueError("name must not be empty")
    return name


def normalize_email(raw: str) -> str:
    """The address trimmed; refused if it holds a control or formatting character (NUL...),
    which no address has and which would otherwise be stored and sent to clinic systems."""
    email = raw.strip()
    if any(unicodedata.category(char).startswith("C") for char in email):
        raise ValueError("must not contain control characters")
    if len(email) > 254 or _EMAIL.match(email) is None:
        raise ValueError("not a valid email address")
    return email
