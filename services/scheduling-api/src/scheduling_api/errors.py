"""Errors the service answers with: an HTTP status, a machine code and a sentence.

Every 4xx body is `{"error": code, "message": sentence, ...extra}` (the contract the
agent worker and clinic backends parse); validation failures add `fields`.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    def __init__(self, status_code: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error = error
        self.message = message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "message": self.message, **self.extra}


def not_found(kind: str, identifier: str) -> ServiceError:
    """404 naming what was looked for, e.g. `clinic_not_found`."""
    label = kind.replace("_", " ")
    return ServiceError(
        404,
        f"{kind}_not_found",
        f"No {label} with id {identifier!r}.",
        **{f"{kind}_id": identifier},
    )


def invalid_fields(*problems: tuple[str, str]) -> ServiceError:
    """422 `validation_error` listing (field, message) pairs."""
    return ServiceError(
        422,
        "validation_error",
        "; ".join(f"{field}: {message}" for field, message in problems),
        fields=[{"field": field, "message": message} for field, message in problems],
    )
