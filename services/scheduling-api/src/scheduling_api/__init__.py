"""Bright Smile scheduling API: the system of record for appointments."""
