"""The minter signs the claims it is given, stamped with the current time."""

from __future__ import annotations

import time
from datetime import timedelta

import jwt
from livekit import api
from token_service.adapters.minting import TokenMinter
from token_service.domain.token_claims import TokenPolicy, build_token_claims
from token_service.domain.token_request import TokenRequest

KEY = "APIminting"
SECRET = "minting-secret-minting-secret-0123456789"
POLICY = TokenPolicy(
    agent_name="bright-smile-receptionist",
    clinic_ids=("bright-smile", "north"),
    ttl=timedelta(seconds=900),
)


def test_mint_stamps_the_current_time_and_matching_expiry() -> None:
    claims = build_token_claims(TokenRequest(), POLICY)
    before = int(time.time())
    minted = TokenMinter(KEY, SECRET).mint(claims)
    after = int(time.time())
    decoded = jwt.decode(minted.jwt, SECRET, algorithms=["HS256"], issuer=KEY)
    assert before <= decoded["nbf"] <= after
    assert decoded["exp"] == decoded["nbf"] + 900
    assert minted.expires_at.timestamp() == decoded["exp"]
    verified = api.TokenVerifier(KEY, SECRET).verify(minted.jwt)
    assert verified.identity == claims.identity
    assert verified.video == claims.grants
