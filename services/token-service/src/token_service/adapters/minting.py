"""Signs token claims into a LiveKit JWT with livekit-api's own `AccessToken`.

Using LiveKit's builder (rather than assembling the JWT by hand) keeps the token format
LiveKit's responsibility: a livekit-api upgrade that changes the claims layout changes
ours with it. Signing is ~75 µs of the ~460 µs of CPU a request costs (see
`bench/bench_token.py`), so a hand-rolled signer would not pay for the drift risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import jwt
from livekit import api

from token_service.domain.token_claims import TokenClaims


@dataclass(frozen=True)
class MintedToken:
    jwt: str
    expires_at: datetime


class TokenMinter:
    """Holds the LiveKit API key pair; turns `TokenClaims` into a signed token."""

    def __init__(self, api_key: str, api_secret: str) -> None:
        self._api_key = api_key
        self._api_secret = api_secret

    def mint(self, claims: TokenClaims) -> MintedToken:
        token = (
            api.AccessToken(self._api_key, self._api_secret)
            .with_identity(claims.identity)
            .with_grants(claims.grants)
            .with_room_config(claims.room_config)
            .with_ttl(claims.ttl)
        )
        if claims.name:
            token = token.with_name(claims.name)
        if claims.metadata:
            token = token.with_metadata(claims.metadata)
        if claims.attributes:
            token = token.with_attributes(dict(claims.attributes))
        signed = token.to_jwt()
        expiry = jwt.decode(signed, options={"verify_signature": False})["exp"]
        return MintedToken(jwt=signed, expires_at=datetime.fromtimestamp(expiry, tz=UTC))
