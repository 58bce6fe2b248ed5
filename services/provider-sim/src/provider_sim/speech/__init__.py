"""Offline speech engines (Piper for synthesis, pocketsphinx for recognition)."""
