"""`POST /v1/token`: LiveKit's standard token endpoint, hardened for the public internet.

Checks run cheapest-to-abuse first: the per-client rate limit (every attempt counts,
including unauthenticated and invalid ones, so neither key guessing nor junk floods
are free), then the API key, then the body, then the token policy. Redis being down
stops issuing altogether (503): without the shared limit, the limit would not hold.
"""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request, Response
from pydantic import ValidationError
from starlette.requests import ClientDisconnect

from token_service.adapters.rate_limit import RateLimiterUnavailableError
from token_service.api.auth import BEARER_SCHEME
from token_service.api.context import ServiceContext, service_context
from token_service.api.errors import error_response
from token_service.api.schemas import TokenResponse, documented_error, token_request_schema
from token_service.domain.client_address import rate_limit_key, resolve_client_address
from token_service.domain.errors import RequestRefusedError, UnknownClinicError
from token_service.domain.token_claims import build_token_claims
from token_service.domain.token_request import TokenRequest, json_shape_problem
from token_service.metrics import ISSUE_ROUTE, TokenOutcome

MAX_BODY_BYTES = 16 * 1024
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}

logger = logging.getLogger(__name__)
router = APIRouter()


class BodyTooLargeError(Exception):
    pass


async def read_capped_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, refused (BodyTooLargeError) as soon as it is known to exceed `limit`:
    by its declared length, or while a chunked body streams in."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
    return b"".join(chunks)


def _is_json(content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    return media_type == "application/json"


def _field_problems(fields: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The `fields` of an error body: one {"field", "message"} per field at fault."""
    return [{"field": field, "message": message} for field, message in fields]


def _validation_problems(exc: ValidationError) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        field = ".".join(str(part) for part in error["loc"]) or "body"
        if error["type"] == "extra_forbidden":
            message = "unknown field"
        else:
            message = str(error["msg"]).removeprefix("Value error, ")
        problems.append((field, message))
    return problems


def _refuse(
    context: ServiceContext,
    outcome: TokenOutcome,
    status: int,
    error: str,
    message: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: object,
) -> Response:
    context.metrics.count_token(outcome)
    # A 429 flood would otherwise flood the log too; the metric counts every one.
    level = logging.DEBUG if outcome is TokenOutcome.RATE_LIMITED else logging.INFO
    logger.log(
        level,
        "token refused",
        extra={"event": "token_refused", "outcome": outcome.value, "error": error},
    )
    return error_response(status, error, message, headers={**NO_STORE, **(headers or {})}, **extra)


@router.post(
    ISSUE_ROUTE,
    status_code=201,
    response_model=None,
    summary="Mint a token for one caller to join a new room with the receptionist",
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": token_request_schema()}},
        },
        "security": [{}, {BEARER_SCHEME: []}],
    },
    responses={
        201: {"model": TokenResponse, "description": "The token, for a room named by us"},
        400: documented_error(
            "malformed_json (unparsable, too deep, lone surrogates), client_disconnected, "
            "or request_refused: a chosen room_name / participant_identity, or a "
            "room_config asking for more than our receptionist"
        ),
        401: documented_error(
            "unauthorized: TOKEN_SERVICE_API_KEYS is set and no valid key was sent"
        ),
        404: documented_error("unknown_clinic: the clinic is not served here"),
        413: documented_error(f"payload_too_large: the body is over {MAX_BODY_BYTES} bytes"),
        415: documented_error("unsupported_media_type: a body that is not application/json"),
        422: documented_error("invalid_request: fields that fail validation, listed in fields"),
        429: documented_error("rate_limited: retry after the Retry-After delay"),
        500: documented_error("internal_error: a bug; error_id names the log line"),
        503: documented_error("unavailable: the rate limiter's Redis is down; retry later"),
    },
)
async def issue_token(request: Request) -> Response:
    """Mint a token for one caller to join one room with our receptionist."""
    context = service_context(request)

    client = resolve_client_address(
        request.client.host if request.client else None,
        request.headers.getlist("x-forwarded-for"),
        context.trusted_proxies,
    )
    try:
        decision = await context.rate_limiter.hit(rate_limit_key(client))
    except RateLimiterUnavailableError:
        logger.error(
            "rate limiter store unreachable; refusing to issue tokens",
            extra={"event": "redis_unavailable"},
        )
        return _refuse(
            context,
            TokenOutcome.UNAVAILABLE,
            503,
            "unavailable",
            "the rate limiter's store (redis) is unreachable, so no token is issued; retry later",
            headers={"Retry-After": "5"},
        )
    if not decision.allowed:
        return _refuse(
            context,
            TokenOutcome.RATE_LIMITED,
            429,
            "rate_limited",
            "too many token requests from this client; retry after the Retry-After delay",
            headers={"Retry-After": decision.retry_after_header},
        )

    if not context.api_keys.accepts(request.headers.get("authorization")):
        return _refuse(
            context,
            TokenOutcome.UNAUTHORIZED,
            401,
            "unauthorized",
            "a valid API key is required: send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )

    try:
        body = await read_capped_body(request)
    except ClientDisconnect:
        return _refuse(
            context,
            TokenOutcome.INVALID_REQUEST,
            400,
            "client_disconnected",
            "the client went away before sending the whole body",
        )
    except BodyTooLargeError:
        return _refuse(
            context,
            TokenOutcome.INVALID_REQUEST,
            413,
            "payload_too_large",
            f"the request body must be at most {MAX_BODY_BYTES} bytes",
        )
    if body.strip() and not _is_json(request.headers.get("content-type")):
        return _refuse(
            context,
            TokenOutcome.INVALID_REQUEST,
            415,
            "unsupported_media_type",
            "send the request body as JSON with 'Content-Type: application/json'",
        )
    try:
        payload = json.loads(body) if body.strip() else {}
    except (ValueError, RecursionError) as exc:
        return _refuse(
            context,
            TokenOutcome.INVALID_REQUEST,
            400,
            "malformed_json",
            "the request body is nested too deeply to be a token request"
            if isinstance(exc, RecursionError)
            else "the request body is not valid JSON",
        )
    shape_problem = json_shape_problem(payload)
    if shape_problem is not None:
        return _refuse(context, TokenOutcome.INVALID_REQUEST, 400, "malformed_json", shape_problem)
    if not isinstance(payload, dict):
        return _refuse(
            context,
            TokenOutcome.INVALID_REQUEST,
            422,
            "invalid_request",
            "the request body must be a JSON object",
        )
    try:
        token_request = TokenRequest.model_validate(payload)
    except ValidationError as exc:
        problems = _validation_problems(exc)
        return _refuse(
            context,
            TokenOutcome.INVALID_REQUEST,
            422,
            "invalid_request",
            "; ".join(f"{field}: {message}" for field, message in problems),
            fields=_field_problems(problems),
        )

    try:
        claims = build_token_claims(token_request, context.policy)
    except RequestRefusedError as exc:
        return _refuse(
            context,
            TokenOutcome.INVALID_REQUEST,
            400,
            "request_refused",
            exc.message,
            fields=_field_problems(exc.fields),
        )
    except UnknownClinicError as exc:
        return _refuse(
            context,
            TokenOutcome.UNKNOWN_CLINIC,
            404,
            "unknown_clinic",
            f"no clinic {exc.clinic_id[:64]!r} is served here",
            fields=_field_problems([("clinic_id", "not a clinic this service serves")]),
        )

    minted = context.minter.mint(claims)
    context.metrics.count_token(TokenOutcome.ISSUED)
    logger.info(
        "token issued",
        extra={
            "event": "token_issued",
            "clinic_id": claims.clinic_id,
            "ttl_seconds": int(claims.ttl.total_seconds()),
        },
    )
    return Response(
        content=json.dumps(
            {
                "server_url": context.server_url,
                "participant_token": minted.jwt,
                "room_name": claims.room_name,
                "participant_identity": claims.identity,
                "expires_at": minted.expires_at.isoformat().replace("+00:00", "Z"),
            }
        ),
        status_code=201,
        media_type="application/json",
        headers=NO_STORE,
    )
