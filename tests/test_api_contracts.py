"""Schemathesis against both APIs as real processes: the OpenAPI documents are the truth.

For every documented operation, schemathesis generates requests from the document,
valid ones (with the real clinic in the path, so they reach the booking logic) and
invalid ones, sends them over HTTP to a real `scheduling-api` / `token-service` process
on the session's redis-server, and checks each answer. The run fails on any 5xx, any
status the document does not list for that operation, a content type it does not list,
or a body that does not match the documented schema. Examples are bounded and
derandomized (hypothesis's seed is fixed), so a failure reproduces on the next run.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

# Per operation and mode; ~1,700 requests in all, about 35 s on a loaded 2-core machine.
SCHEDULING_EXAMPLES = 30
TOKEN_EXAMPLES = 100  # one real operation, and the cheapest to call
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
# No shrinking: with derandomize the failing example is the same on every run anyway.
HYPOTHESIS_SETTINGS = settings(
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def _describe(error: BaseException) -> str:
    """Schemathesis's report: what was wrong, the response, and a curl to reproduce it."""
    return str(error)


def _failures(
    schema: Any, headers: dict[str, str], *, clinic_id: str | None, examples: int
) -> list[str]:
    """Run every operation in both modes; one line per operation and mode that failed."""
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            fixed = (
                {"clinic_id": clinic_id}
                if clinic_id and mode is GenerationMode.POSITIVE and "{clinic_id}" in operation.path
                else None
            )

            @settings(HYPOTHESIS_SETTINGS, max_examples=examples)
            @given(case=operation.as_strategy(mode, path_parameters=fixed))
            def check(case: Any) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS, timeout=30)

            try:
                check()
            except Unsatisfiable:
                assert mode is GenerationMode.NEGATIVE  # nothing to get wrong: no inputs
            except (FailureGroup, Exception) as error:  # every failure, not only the first
                failures.append(f"{operation.label} [{mode.value}]: {_describe(error)}")
    return failures


@pytest.mark.slow
def test_scheduling_api_answers_as_documented(session_services: Any, api_env: Any) -> None:
    server = session_services.start(
        ["scheduling-api"], name="scheduling-api-contract", env=api_env.scheduling
    )
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    headers = {"Authorization": f"Bearer {api_env.scheduling_token}"}
    failures = _failures(schema, headers, clinic_id="bright-smile", examples=SCHEDULING_EXAMPLES)
    assert not failures, "\n\n".join(failures)
    server.stop()


@pytest.mark.slow
def test_token_service_answers_as_documented(session_services: Any, api_env: Any) -> None:
    server = session_services.start(
        ["token-service"], name="token-service-contract", env=api_env.token
    )
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
    failures = _failures(schema, {}, clinic_id=None, examples=TOKEN_EXAMPLES)
    assert not failures, "\n\n".join(failures)
    server.stop()
