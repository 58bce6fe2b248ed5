"""Each tool's OpenAI schema is built once per process, not on every LLM request.

LiveKit Agents 1.8 rebuilds every tool's strict JSON schema (a pydantic model per tool,
then its JSON schema) for each chat request: about 6.6 ms for the receptionist's 11 tools,
on the critical path of every LLM round and twice on a tool turn. A schema depends only on
the tool's function, whether it is bound, and its name and description, so it is cached by
those. The framework is pinned; `test_agent_tool_schemas.py` checks the cached schemas
against the framework's own for every tool.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from livekit.agents.llm import FunctionTool
from livekit.agents.llm import utils as llm_utils

AnyTool = FunctionTool[Any, Any]
SchemaBuilder = Callable[[AnyTool], dict[str, Any]]
_CacheKey = tuple[object, bool, str, str | None]

_lock = threading.Lock()
_uncached: SchemaBuilder | None = None
_schemas: dict[_CacheKey, dict[str, Any]] = {}


def _key(tool: AnyTool) -> _CacheKey:
    bound = getattr(tool, "_instance", None) is not None
    return (getattr(tool, "_func", tool), bound, tool.info.name, tool.info.description)


def _cached_strict_schema(tool: AnyTool) -> dict[str, Any]:
    assert _uncached is not None
    key = _key(tool)
    schema = _schemas.get(key)
    if schema is None:
        schema = _uncached(tool)
        with _lock:
            _schemas[key] = schema
    # the request builder owns what it gets; the cached original stays pristine
    return copy.deepcopy(schema)


def install() -> None:
    """Route the framework's strict-schema builder through the cache (idempotent)."""
    global _uncached
    with _lock:
        if _uncached is None:
            _uncached = llm_utils.build_strict_openai_schema
            llm_utils.build_strict_openai_schema = _cached_strict_schema  # type: ignore[assignment]


def uncached_builder() -> SchemaBuilder:
    """The framework's own builder, whether or not the cache is installed."""
    return _uncached or llm_utils.build_strict_openai_schema
