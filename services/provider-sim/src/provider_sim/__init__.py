"""Local stand-ins for Deepgram, OpenAI and Cartesia that speak their real wire protocols."""
