"""Optional caller authentication: a bearer API key from `TOKEN_SERVICE_API_KEYS`.

Meant for a clinic's own backend calling on behalf of its web page; a browser cannot
keep a key secret. Keys are compared in constant time, and every configured key is
compared on every request, so timing says nothing about which key nearly matched.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence

BEARER_SCHEME = "bearerAuth"
"""The OpenAPI security scheme's name; optional unless TOKEN_SERVICE_API_KEYS is set."""


class BearerKeys:
    def __init__(self, keys: Sequence[str]) -> None:
        self._keys = [key.encode("utf-8") for key in keys]

    @property
    def required(self) -> bool:
        return bool(self._keys)

    def accepts(self, authorization: str | None) -> bool:
        """True when no keys are configured, or the header carries one of them."""
        if not self._keys:
            return True
        scheme, _, credential = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            return False
        presented = credential.strip().encode("utf-8")
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(presented, key)
        return matched
