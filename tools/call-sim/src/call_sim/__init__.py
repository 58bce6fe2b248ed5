"""Bright Smile call simulator: whole calls through the real stack, offline."""
