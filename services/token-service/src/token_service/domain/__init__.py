"""Pure token-issuing rules: request validation, room-config policy, token claims.

Nothing in this package does I/O, so every rule is unit-testable on its own.
"""
