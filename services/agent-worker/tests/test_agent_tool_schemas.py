"""The per-process tool-schema cache returns exactly the framework's schemas."""

from __future__ import annotations

from typing import Any

from livekit.agents.llm import FunctionTool, ToolContext
from receptionist import tool_schemas
from receptionist.agent import Receptionist
from receptionist.resources import ClinicProfile
from receptionist.scheduling_client import SchedulingClient


def _function_tools(agent: Receptionist) -> list[FunctionTool]:
    return [tool for tool in agent.tools if isinstance(tool, FunctionTool)]


async def test_cached_schemas_equal_the_frameworks_and_are_built_once(
    profile: ClinicProfile, scheduling_client: SchedulingClient, monkeypatch: Any
) -> None:
    tool_schemas.install()
    framework = tool_schemas.uncached_builder()
    agent = Receptionist(profile=profile, scheduling=scheduling_client)
    tools = _function_tools(agent)
    assert len(tools) >= 8

    built: list[str] = []

    def counting(tool: FunctionTool) -> dict[str, Any]:
        built.append(tool.info.name)
        return framework(tool)

    monkeypatch.setattr(tool_schemas, "_uncached", counting)
    monkeypatch.setattr(tool_schemas, "_schemas", {})
    context = ToolContext(agent.tools)
    first = context.parse_function_tools("openai", strict=True)
    # a new call's agent: its bound tools are new objects with the same functions
    second_agent = Receptionist(profile=profile, scheduling=scheduling_client)
    again = ToolContext(second_agent.tools).parse_function_tools("openai", strict=True)

    assert first == again == [framework(tool) for tool in tools]
    assert sorted(built) == sorted(tool.info.name for tool in tools)  # once per tool


async def test_callers_cannot_corrupt_the_cache(
    profile: ClinicProfile, scheduling_client: SchedulingClient
) -> None:
    tool_schemas.install()
    agent = Receptionist(profile=profile, scheduling=scheduling_client)
    context = ToolContext(agent.tools)
    schemas = context.parse_function_tools("openai", strict=True)
    schemas[0]["function"]["name"] = "tampered"
    assert context.parse_function_tools("openai", strict=True)[0]["function"]["name"] != (
        "tampered"
    )
