"""Reasons a well-formed token request is refused (mapped to HTTP by the API layer)."""

from __future__ import annotations


class RequestRefusedError(Exception):
    """The request is well-formed but asks for something this service does not grant (400)."""

    def __init__(self, message: str, *, fields: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields  # (field, why it is refused), one per refused part


class UnknownClinicError(Exception):
    """The clinic is not one this deployment serves (404)."""

    def __init__(self, clinic_id: str) -> None:
        super().__init__(f"unknown clinic {clinic_id!r}")
        self.clinic_id = clinic_id
