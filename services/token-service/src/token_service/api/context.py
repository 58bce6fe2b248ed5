"""What request handlers need, built once by the app factory and kept on `app.state`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from fastapi import Request

from token_service.adapters.minting import TokenMinter
from token_service.adapters.rate_limit import RedisRateLimiter
from token_service.api.auth import BearerKeys
from token_service.domain.client_address import IPNetwork
from token_service.domain.token_claims import TokenPolicy
from token_service.metrics import Metrics


@dataclass(frozen=True)
class ServiceContext:
    server_url: str
    policy: TokenPolicy
    minter: TokenMinter
    rate_limiter: RedisRateLimiter
    api_keys: BearerKeys
    trusted_proxies: Sequence[IPNetwork]
    metrics: Metrics


def service_context(request: Request) -> ServiceContext:
    return cast(ServiceContext, request.app.state.context)
