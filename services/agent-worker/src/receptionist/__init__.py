"""Bright Smile receptionist: the LiveKit Agents voice worker."""
