"""Bright Smile token service: mints short-lived LiveKit room-join tokens."""
