"""Call scenarios: the packaged ones are valid, and bad ones say what is wrong."""

from __future__ import annotations

import pytest
import yaml
from call_sim import catalog
from call_sim.scenario import CallScenarioError, parse_scenario_text

REQUIRED = {
    "booking",
    "slot-taken",
    "faq",
    "reschedule",
    "cancel",
    "emergency",
    "scheduling-api-down",
    "caller-silent",
}
SELF_SPEAKING_TOOLS = {
    "confirm_booking_details",
    "confirm_reschedule_details",
    "confirm_cancellation_details",
    # made by the turn hook on a clear yes to the read-back, which speaks the confirmation
    "book_appointment",
    "reschedule_appointment",
    "cancel_appointment",
}
PROVIDER_SIM_TOP_LEVEL = {"name", "description", "fallback_reply", "greeting", "turns"}


def test_every_required_scenario_ships_with_the_package() -> None:
    assert set(catalog.names()) >= REQUIRED


@pytest.mark.parametrize("name", catalog.names())
def test_packaged_scenario_hands_provider_sim_only_its_own_format(name: str) -> None:
    scenario = catalog.load(name)
    script = yaml.safe_load(scenario.provider_script_yaml())
    assert set(script) <= PROVIDER_SIM_TOP_LEVEL
    assert [turn["caller"] for turn in script["turns"]] == [t.caller for t in scenario.turns]
    for turn in script["turns"]:
        assert set(turn) == {"caller", "model"} | ({"keypad"} if turn.get("keypad") else set())
        for step in turn["model"]:
            assert set(step) <= {"say", "tool_calls"}
            assert step


@pytest.mark.parametrize("name", catalog.names())
def test_every_turn_of_a_packaged_scenario_gets_a_spoken_reply(name: str) -> None:
    """A turn whose script never speaks would leave the caller waiting for a reply.

    The receptionist's confirm tools speak their read-back themselves, and its turn hook
    commits on the yes to it and speaks the confirmation, so a turn that ends with one of
    those tools needs no scripted `say`.
    """
    for turn in catalog.load(name).turns:
        last = turn.model[-1]
        speaks_itself = any(
            call["name"] in SELF_SPEAKING_TOOLS for call in last.get("tool_calls", [])
        )
        assert any(step.get("say") for step in turn.model) or speaks_itself, turn.caller


@pytest.mark.parametrize("name", catalog.names())
def test_every_packaged_scenario_checks_its_stored_call_record(name: str) -> None:
    assert catalog.load(name).expect.call_outcome is not None


def test_packaged_scenarios_never_share_a_phone_number() -> None:
    """They run one after another against one stack's appointment book, and each checks
    every booking and callback for its numbers: a number two of them use makes the second
    see the first's bookings (phone-keypad once typed scheduling-api-down's number)."""
    owner: dict[str, str] = {}
    for name in catalog.names():
        for phone in catalog.load(name).phones:
            assert owner.setdefault(phone, name) == name, f"{name} and {owner[phone]}: {phone}"


def test_phones_cover_setup_and_expectations() -> None:
    scenario = catalog.load("reschedule")
    assert scenario.phones == ["+14155550177"]
    assert catalog.load("scheduling-api-down").phones == ["+15125550166"]


def test_a_single_model_step_may_be_written_without_a_list() -> None:
    scenario = parse_scenario_text("name: one\nturns:\n  - caller: hi\n    model: {say: hello}\n")
    assert scenario.turns[0].model == [{"say": "hello"}]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("name: Bad Name\n", "name"),
        (
            "name: x\nsetup:\n  bookings:\n"
            "    - {appointment_type: exam, patient: {name: A B, phone: '555'}}\n",
            "phone",
        ),
        ("name: x\nturns:\n  - caller: hi\n    before: {explode: true}\n", "explode"),
        ("name: x\nexpect: {ended_by: someone}\n", "ended_by"),
        ("- just a list\n", "mapping"),
        ("name: [unclosed\n", "YAML"),
    ],
)
def test_invalid_scenarios_name_the_problem(text: str, where: str) -> None:
    with pytest.raises(CallScenarioError, match=where):
        parse_scenario_text(text, source="test.yaml")


def test_unknown_scenario_lists_the_packaged_ones() -> None:
    with pytest.raises(CallScenarioError, match="booking"):
        catalog.load("no-such-call")
