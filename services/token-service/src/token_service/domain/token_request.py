"""The body of `POST /v1/token`: LiveKit's standard token-endpoint request plus `clinic_id`.

Field names are the snake_case ones LiveKit's client SDKs send (`TokenSourceRequest`
serialised with proto field names). Every field is optional; an empty string means
"not given", as it does in protobuf. Each field has a charset or size limit so a
token never carries more than a caller plausibly needs. `room_name` and
`participant_identity` are parsed only so the claims builder can refuse them by name:
the service alone chooses rooms and identities.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

ATTRIBUTE_KEY_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
CLINIC_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")

MAX_NAME_CHARS = 64
MAX_METADATA_BYTES = 1024
MAX_ATTRIBUTES = 16
MAX_ATTRIBUTE_VALUE_BYTES = 256
MAX_ATTRIBUTES_TOTAL_BYTES = 2048
# LiveKit keeps `lk.`-prefixed attributes for itself (agent state, publish-on-behalf);
# a caller must not be able to imitate them.
RESERVED_ATTRIBUTE_PREFIX = "lk."
# The deepest legitimate body is {"room_config": {"agents": [{"agent_name": ...}]}}.
MAX_JSON_DEPTH = 8


def json_shape_problem(payload: object) -> str | None:
    """Why a decoded JSON body cannot be a token request, or None when its shape is fine.

    Runs before any recursive code sees the body: nesting past MAX_JSON_DEPTH would
    otherwise reach the recursion limit in the validators, and a lone surrogate
    (`"\\ud800"`, valid JSON escape, invalid Unicode) breaks protobuf's parser. The walk
    is iterative, so it cannot itself recurse too deeply.
    """
    pending: list[tuple[object, int]] = [(payload, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, dict | list) and depth > MAX_JSON_DEPTH:
            return f"the body is nested more than {MAX_JSON_DEPTH} levels deep"
        if isinstance(value, dict):
            strings: list[object] = list(value)
            pending.extend((item, depth + 1) for item in value.values())
        elif isinstance(value, list):
            strings = []
            pending.extend((item, depth + 1) for item in value)
        else:
            strings = [value]
        if any(isinstance(text, str) and not _is_valid_unicode(text) for text in strings):
            return "the body holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text"
    return None


def _is_valid_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


class TokenRequest(BaseModel):
    """A validated token request; the claims builder decides what it becomes."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    room_name: str | None = None
    participant_identity: str | None = None
    participant_name: str | None = None
    participant_metadata: str | None = None
    participant_attributes: dict[str, str] | None = None
    room_config: dict[str, Any] | None = None
    clinic_id: str | None = None

    @field_validator(
        "room_name",
        "participant_identity",
        "participant_name",
        "participant_metadata",
        "clinic_id",
        mode="before",
    )
    @classmethod
    def _empty_is_absent(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("participant_name")
    @classmethod
    def _name_is_printable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if len(value) > MAX_NAME_CHARS:
            raise ValueError(f"must be at most {MAX_NAME_CHARS} characters")
        if not value.strip():
            raise ValueError("must not be blank")
        if any(unicodedata.category(char).startswith("C") for char in value):
            raise ValueError("must not contain control or formatting characters")
        return value

    @field_validator("participant_metadata")
    @classmethod
    def _metadata_size(cls, value: str | None) -> str | None:
        if value is not None and _utf8_size(value) > MAX_METADATA_BYTES:
            raise ValueError(f"must be at most {MAX_METADATA_BYTES} bytes (UTF-8)")
        return value

    @field_validator("participant_attributes")
    @classmethod
    def _attributes_bounded(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is None:
            return None
        if len(value) > MAX_ATTRIBUTES:
            raise ValueError(f"must have at most {MAX_ATTRIBUTES} entries")
        total = 0
        for key, item in value.items():
            if not ATTRIBUTE_KEY_PATTERN.fullmatch(key):
                raise ValueError(
                    "keys must be 1-64 characters: letters, digits, '_', '.' or '-', starting "
                    "with a letter or digit"
                )
            if key.lower().startswith(RESERVED_ATTRIBUTE_PREFIX):
                raise ValueError(f"keys must not start with {RESERVED_ATTRIBUTE_PREFIX!r}")
            if _utf8_size(item) > MAX_ATTRIBUTE_VALUE_BYTES:
                raise ValueError(f"values must be at most {MAX_ATTRIBUTE_VALUE_BYTES} bytes")
            total += _utf8_size(key) + _utf8_size(item)
        if total > MAX_ATTRIBUTES_TOTAL_BYTES:
            raise ValueError(f"must total at most {MAX_ATTRIBUTES_TOTAL_BYTES} bytes")
        return value

    @field_validator("clinic_id")
    @classmethod
    def _clinic_id_charset(cls, value: str | None) -> str | None:
        if value is not None and not CLINIC_ID_PATTERN.fullmatch(value):
            raise ValueError("must be 1-64 characters: lowercase letters, digits or '-'")
        return value
