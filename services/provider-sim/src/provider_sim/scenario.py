"""Scenarios: what the caller says and what the scripted model answers. Pure, no I/O.

A completion request is matched to a scripted response by its position in the
conversation, read from the request's own message history:

* caller turn ``u`` = the number of ``user`` messages in the history;
* response ``k`` = the number of ``assistant`` messages after the last ``user`` message.

``u == 0`` selects ``greeting[k]``, otherwise ``turns[u - 1].model[k]``. Nothing is stored
per conversation, so any number of concurrent calls of the same scenario, retries and
discarded (preemptive) generations all get the right step. When the script has no
response for a position the model says the scenario's ``fallback_reply``.

Strings in scripted responses may refer to earlier tool results in the same
conversation with ``{{ ... }}`` templates (see ``TEMPLATE_HELP``), because values such as
slot ids only exist once the real tool has answered.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from provider_sim.heard import heard_name, heard_phone

TEMPLATE_HELP = (
    "{{ tool }} is the latest output of `tool` as text; {{ tool.a.0.b }} is a value inside "
    "that output parsed as JSON (or a Python literal); {{ tool | regex: PATTERN }} is the "
    "first capture group (or the whole match) of PATTERN in it; {{ heard name or DEFAULT }} "
    "and {{ heard phone or DEFAULT }} are the name and phone number the caller said, or "
    "DEFAULT when they were not heard"
)
DEFAULT_FALLBACK_REPLY = "I'm sorry, could you repeat that?"

_TEMPLATE = re.compile(r"\{\{\s*(.+?)\s*\}\}")
_REGEX_FORM = re.compile(r"^([A-Za-z0-9_-]+)\s*\|\s*regex:\s*(.+)$")
_PATH_FORM = re.compile(r"^([A-Za-z0-9_-]+)((?:\.[^.\s]+)*)$")
_HEARD_FORM = re.compile(r"^heard\s+(name|phone)\s+or\s+(.+)$")


class ScenarioError(ValueError):
    """The scenario file is not valid; the message says where and why."""


class ScenarioMismatchError(ValueError):
    """The scripted step does not fit the conversation it was asked for."""


class ToolCallSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    arguments: dict[str, Any] = Field(default_factory=dict)


class ModelResponse(BaseModel):
    """One completion: assistant text, tool calls, or text followed by tool calls."""

    model_config = ConfigDict(extra="forbid")

    say: str | None = None
    tool_calls: list[ToolCallSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _not_empty(self) -> ModelResponse:
        if not self.say and not self.tool_calls:
            raise ValueError("a model response needs `say` text, `tool_calls`, or both")
        return self


def _as_list(value: Any) -> Any:
    return [value] if isinstance(value, Mapping) else value


class CallerTurn(BaseModel):
    """What the caller says, then every model response until the caller speaks again.

    Unknown keys are allowed so the call simulator can keep its own per-turn settings
    in the same file.
    """

    model_config = ConfigDict(extra="allow")

    caller: str = Field(min_length=1)
    model: list[ModelResponse] = Field(default_factory=list)
    # the caller presses keys instead of speaking (DTMF reaches the model as a user turn,
    # not through the STT), so this turn has no line for the scripted STT
    keypad: bool = False

    _wrap_single = field_validator("model", mode="before")(_as_list)


class Scenario(BaseModel):
    """A scripted call. Unknown top-level keys (clinic, expectations...) are ignored here."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(min_length=1)
    description: str = ""
    fallback_reply: str = DEFAULT_FALLBACK_REPLY
    greeting: list[ModelResponse] = Field(default_factory=list)
    turns: list[CallerTurn] = Field(default_factory=list)

    _wrap_single = field_validator("greeting", mode="before")(_as_list)

    @property
    def caller_lines(self) -> list[str]:
        return [turn.caller for turn in self.turns if not turn.keypad]


def parse_scenario(text: str, *, source: str = "scenario") -> Scenario:
    """Parse a YAML (or JSON) scenario, with errors that name the offending field."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError(f"{source}: not valid YAML: {error}") from None
    if not isinstance(data, Mapping):
        raise ScenarioError(f"{source}: expected a mapping at the top level")
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in issue['loc']) or '(top level)'}: {issue['msg']}"
            for issue in error.errors()
        )
        raise ScenarioError(f"{source}: {problems}") from None


@dataclass(frozen=True)
class ConversationPosition:
    caller_turns: int
    responses_in_turn: int


@dataclass(frozen=True)
class PlannedToolCall:
    name: str
    arguments: str  # JSON text, as the OpenAI API sends it


@dataclass(frozen=True)
class PlannedReply:
    text: str | None
    tool_calls: tuple[PlannedToolCall, ...]
    position: ConversationPosition
    scripted: bool


def message_text(message: Mapping[str, Any]) -> str:
    """The text of an OpenAI chat message whose content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") in ("text", "input_text")
        )
    return ""


def position_of(messages: Sequence[Mapping[str, Any]]) -> ConversationPosition:
    caller_turns = 0
    responses = 0
    for message in messages:
        role = message.get("role")
        if role == "user":
            caller_turns += 1
            responses = 0
        elif role == "assistant":
            responses += 1
    return ConversationPosition(caller_turns=caller_turns, responses_in_turn=responses)


def scripted_response(scenario: Scenario, position: ConversationPosition) -> ModelResponse | None:
    if position.caller_turns == 0:
        responses = scenario.greeting
    elif position.caller_turns <= len(scenario.turns):
        responses = scenario.turns[position.caller_turns - 1].model
    else:
        return None
    if position.responses_in_turn < len(responses):
        return responses[position.responses_in_turn]
    return None


def plan_reply(
    scenario: Scenario,
    messages: Sequence[Mapping[str, Any]],
    *,
    offered_tools: Sequence[str] | None,
) -> PlannedReply:
    """The reply the scripted model gives to a request carrying `messages`.

    `offered_tools` is the list of function names in the request (None when it offers
    none). A scripted call to a tool the request does not offer, or a template that
    cannot be resolved, raises ScenarioMismatchError: silently sending it would surface much
    later as a confusing agent error.
    """
    position = position_of(messages)
    response = scripted_response(scenario, position)
    if response is None:
        return PlannedReply(scenario.fallback_reply, (), position, scripted=False)
    said = _Conversation(_tool_outputs(messages), _caller_texts(messages))
    offered = set(offered_tools or ())
    calls: list[PlannedToolCall] = []
    for spec in response.tool_calls:
        if spec.name not in offered:
            raise ScenarioMismatchError(
                f"scenario '{scenario.name}' calls tool '{spec.name}' at caller turn "
                f"{position.caller_turns}, response {position.responses_in_turn}, but the "
                f"request offers {sorted(offered) or 'no tools'}"
            )
        arguments = _render(spec.arguments, said)
        calls.append(PlannedToolCall(spec.name, json.dumps(arguments, ensure_ascii=False)))
    text = _render_text(response.say, said) if response.say else None
    return PlannedReply(text, tuple(calls), position, scripted=True)


def _tool_outputs(messages: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """The latest output of every tool called in the conversation, by tool name."""
    names: dict[str, str] = {}
    latest: dict[str, str] = {}
    for message in messages:
        if message.get("role") == "assistant":
            for call in message.get("tool_calls") or ():
                function = call.get("function") or {}
                if call.get("id") and function.get("name"):
                    names[str(call["id"])] = str(function["name"])
        elif message.get("role") == "tool":
            name = names.get(str(message.get("tool_call_id")))
            if name is not None:
                latest[name] = message_text(message)
    return latest


@dataclass(frozen=True)
class _Conversation:
    """What templates can read: tool outputs by tool name, and the caller's words."""

    outputs: Mapping[str, str]
    caller_texts: tuple[str, ...]


def _caller_texts(messages: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    return tuple(message_text(m) for m in messages if m.get("role") == "user")


def _render(value: Any, said: _Conversation) -> Any:
    if isinstance(value, str):
        whole = _TEMPLATE.fullmatch(value.strip())
        if whole:
            return _resolve(whole.group(1), said)
        return _render_text(value, said)
    if isinstance(value, Mapping):
        return {key: _render(item, said) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, said) for item in value]
    return value


def _render_text(text: str, said: _Conversation) -> str:
    def substitute(match: re.Match[str]) -> str:
        value = _resolve(match.group(1), said)
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return _TEMPLATE.sub(substitute, text)


def _resolve(expression: str, said: _Conversation) -> Any:
    heard_form = _HEARD_FORM.match(expression)
    if heard_form is not None:
        what, default = heard_form.groups()
        heard = heard_name if what == "name" else heard_phone
        return heard(said.caller_texts) or default.strip()
    outputs = said.outputs
    regex_form = _REGEX_FORM.match(expression)
    if regex_form is not None:
        pattern = regex_form.group(2)
        output = _output_of(regex_form.group(1), expression, outputs)
        try:
            found = re.search(pattern, output)
        except re.error as error:
            raise ScenarioMismatchError(
                f"template {{{{ {expression} }}}}: bad regex: {error}"
            ) from None
        if found is None:
            raise ScenarioMismatchError(f"template {{{{ {expression} }}}}: no match in the output")
        return found.group(1) if found.groups() else found.group(0)
    path_form = _PATH_FORM.match(expression)
    if path_form is None:
        raise ScenarioMismatchError(
            f"template {{{{ {expression} }}}} is malformed: {TEMPLATE_HELP}"
        )
    tool = path_form.group(1)
    output = _output_of(tool, expression, outputs)
    path = [part for part in path_form.group(2).split(".") if part]
    if not path:
        return output
    current: Any = _parse_output(output, expression)
    for part in path:
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and _is_index(part, len(current)):
            current = current[int(part)]
        else:
            raise ScenarioMismatchError(
                f"template {{{{ {expression} }}}}: '{part}' not found in the output of '{tool}'"
            )
    return current


def _output_of(tool: str, expression: str, outputs: Mapping[str, str]) -> str:
    if tool not in outputs:
        raise ScenarioMismatchError(
            f"template {{{{ {expression} }}}}: no output of tool '{tool}' in the conversation yet"
        )
    return outputs[tool]


def _is_index(part: str, length: int) -> bool:
    return part.lstrip("-").isdigit() and -length <= int(part) < length


def _parse_output(output: str, expression: str) -> Any:
    try:
        return json.loads(output)
    except ValueError:
        pass
    try:
        return ast.literal_eval(output)
    except (ValueError, SyntaxError):
        raise ScenarioMismatchError(
            f"template {{{{ {expression} }}}}: the tool output is neither JSON nor a literal"
        ) from None
