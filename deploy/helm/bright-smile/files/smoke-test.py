"""`helm test`: an end-to-end smoke check of an installed release, run in a test pod.

Standard library only (it runs in the scheduling API image). Each step prints one line
and the script exits 1 at the first failure, saying what to look at:
1. every service answers its readiness endpoint;
2. the token service mints a caller token (as a browser would);
3. the token's grants are exactly a caller's: signed with the release's LiveKit key,
   one room, microphone only, and our agent dispatched with the default clinic;
4. the scheduling API answers an availability query made with the workers' token;
5. an agent worker answers `/worker` under the agent name the tokens dispatch, and its
   health check does not report a failed LiveKit connection.

Settings come from environment variables (see the chart's tests/smoke-test.yaml).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

WAIT_SECONDS = float(os.environ.get("WAIT_SECONDS", "60"))
CALLER_SOURCES = ["microphone"]
ADMIN_GRANTS = ("roomAdmin", "roomCreate", "roomList", "roomRecord", "ingressAdmin", "agent")


class SmokeTestError(Exception):
    """A step failed; the message says what and where to look."""


def setting(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise SmokeTestError(f"the test pod has no {name} (check the chart's helm test template)")
    return value


def request(
    url: str, *, method: str = "GET", body: Any = None, token: str = ""
) -> tuple[int, bytes]:
    headers = {"Accept": "application/json"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    outgoing = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(outgoing, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read()


def wait_until_ready(name: str, url: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            status, body = request(url)
            if status == 200:
                print(f"ok   {name} is ready ({url})")
                return
            problem = f"{status} {body[:200]!r}"
        except OSError as error:
            problem = str(error)
        if time.monotonic() > deadline:
            raise SmokeTestError(f"{name} not ready after {WAIT_SECONDS:.0f}s: {url} -> {problem}")
        time.sleep(2)


def json_of(name: str, status: int, body: bytes, expected: int) -> Any:
    if status != expected:
        raise SmokeTestError(f"{name} answered {status}, expected {expected}: {body[:300]!r}")
    try:
        return json.loads(body)
    except ValueError as error:
        raise SmokeTestError(f"{name} answered {status} without JSON: {body[:300]!r}") from error


def b64url_decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def verified_claims(token: str, api_key: str, api_secret: str) -> dict[str, Any]:
    """The JWT's claims, after checking it is HS256-signed with the release's LiveKit key."""
    try:
        header_part, claims_part, signature_part = token.split(".")
        header = json.loads(b64url_decode(header_part))
        claims: dict[str, Any] = json.loads(b64url_decode(claims_part))
    except ValueError as error:
        raise SmokeTestError(f"the participant token is not a JWT: {error}") from error
    if header.get("alg") != "HS256":
        raise SmokeTestError(f"the token is signed with {header.get('alg')!r}, not HS256")
    expected = hmac.new(
        api_secret.encode(), f"{header_part}.{claims_part}".encode(), hashlib.sha256
    ).digest()
    if not hmac.compare_digest(expected, b64url_decode(signature_part)):
        raise SmokeTestError(
            "the token's signature does not match LIVEKIT_API_SECRET: the token service and "
            "the workers read different LiveKit credentials"
        )
    if claims.get("iss") != api_key:
        raise SmokeTestError(f"the token was issued by {claims.get('iss')!r}, not LIVEKIT_API_KEY")
    return claims


def check_caller_grants(claims: dict[str, Any], agent_name: str, clinic_id: str) -> str:
    """Problems with the grants are errors; returns the room the token joins."""
    now = time.time()
    if not now < float(claims.get("exp", 0)) <= now + 24 * 3600:
        raise SmokeTestError(f"the token's expiry {claims.get('exp')!r} is not in the next day")
    video = claims.get("video") or {}
    room = video.get("room")
    wanted = {"roomJoin": True, "canPublish": True, "canSubscribe": True}
    wrong = {key: video.get(key) for key, value in wanted.items() if video.get(key) is not value}
    if not room or wrong:
        raise SmokeTestError(f"the token does not join one room as a caller: {video}")
    if video.get("canPublishSources") != CALLER_SOURCES:
        raise SmokeTestError(
            f"the token may publish {video.get('canPublishSources')!r}, not only the microphone"
        )
    powers = [grant for grant in ADMIN_GRANTS if video.get(grant)]
    if powers:
        raise SmokeTestError(f"a caller's token carries admin grants: {powers}")
    agents = (claims.get("roomConfig") or {}).get("agents") or []
    if [agent.get("agentName") for agent in agents] != [agent_name]:
        raise SmokeTestError(f"the token dispatches {agents!r}, not exactly {agent_name!r}")
    metadata = json.loads(agents[0].get("metadata") or "{}")
    if metadata.get("clinic_id") != clinic_id:
        raise SmokeTestError(f"the dispatch names clinic {metadata!r}, expected {clinic_id!r}")
    return str(room)


def mint_token() -> dict[str, Any]:
    url = setting("TOKEN_SERVICE_URL") + "/v1/token"
    api_key = os.environ.get("TOKEN_SERVICE_API_KEYS", "").split(",")[0].strip()
    status, body = request(url, method="POST", body={}, token=api_key)
    answer = json_of("the token service", status, body, 201)
    if answer.get("server_url") != setting("LIVEKIT_URL"):
        raise SmokeTestError(
            f"the token service hands out {answer.get('server_url')!r}, "
            f"not livekit.url {setting('LIVEKIT_URL')!r}"
        )
    print(f"ok   token minted for {answer['server_url']}")
    return verified_claims(
        str(answer.get("participant_token", "")),
        setting("LIVEKIT_API_KEY"),
        setting("LIVEKIT_API_SECRET"),
    )


def query_availability(clinic_id: str) -> None:
    base = setting("SCHEDULING_API_URL") + f"/v1/clinics/{urllib.parse.quote(clinic_id)}"
    token = setting("SCHEDULING_API_TOKEN")
    status, _ = request(base)
    if status != 401:
        raise SmokeTestError(f"the scheduling API answered {status} without a token, not 401")
    profile = json_of("the clinic profile", *request(base, token=token), 200)
    types = [kind["appointment_type_id"] for kind in profile.get("appointment_types", [])]
    if not types:
        raise SmokeTestError(f"clinic {clinic_id!r} offers no appointment types")
    query = urllib.parse.urlencode({"appointment_type": types[0], "days": 14, "limit": 5})
    answer = json_of(
        "the availability query", *request(f"{base}/availability?{query}", token=token), 200
    )
    slots = answer.get("slots")
    if not isinstance(slots, list) or not (slots or answer.get("next_available")):
        raise SmokeTestError(f"clinic {clinic_id!r} has no free {types[0]} slot at all: {answer}")
    print(f"ok   availability with the workers' token: {len(slots)} {types[0]} slots")


def check_worker(agent_name: str) -> None:
    base = setting("WORKER_HEALTH_URL")
    info = json_of("the worker's /worker", *request(base + "/worker"), 200)
    if info.get("agent_name") != agent_name:
        raise SmokeTestError(
            f"the worker registers as {info.get('agent_name')!r}, but tokens dispatch "
            f"{agent_name!r}: no call would reach it"
        )
    status, body = request(base + "/")
    if status != 200:
        raise SmokeTestError(f"the worker's health check says {status} {body[:200]!r}")
    print(f"ok   worker {agent_name!r} answers /worker (load {info.get('worker_load', 0):.2f})")


def main() -> int:
    try:
        agent_name, clinic_id = setting("AGENT_NAME"), setting("CLINIC_ID")
        wait_until_ready("token service", setting("TOKEN_SERVICE_URL") + "/readyz")
        wait_until_ready("scheduling API", setting("SCHEDULING_API_URL") + "/readyz")
        wait_until_ready("agent worker", setting("WORKER_HEALTH_URL") + "/")
        if os.environ.get("PROVIDER_SIM_URL"):
            wait_until_ready("provider stand-in", setting("PROVIDER_SIM_URL") + "/healthz")
        room = check_caller_grants(mint_token(), agent_name, clinic_id)
        print(f"ok   grants: join {room} only, microphone only, dispatching {agent_name!r}")
        query_availability(clinic_id)
        check_worker(agent_name)
    except (SmokeTestError, OSError) as error:
        print(f"FAIL {error}")
        return 1
    print("ok   the release answers end to end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
