"""Adapters for I/O: the Redis-backed rate limiter and the JWT minter."""
