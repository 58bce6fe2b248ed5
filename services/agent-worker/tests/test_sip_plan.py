"""`sip sync`'s plan: what it creates, changes, keeps and deletes, and what it never shows."""

from __future__ import annotations

from sip_provisioning.config import Settings
from sip_provisioning.plan import (
    NEW_TRUNK,
    PhoneLine,
    Rule,
    Trunk,
    TrunkAccess,
    managed_clinic,
    marker,
    plan,
)

ACCESS = TrunkAccess(("203.0.113.0/24",), "carrier", "hunter2-password")
AGENT = "bright-smile-receptionist"


def _rule(clinic_id: str, trunk_id: str, object_id: str) -> Rule:
    return Rule(
        clinic_id, (trunk_id,), f"call-{clinic_id}-", AGENT, f'{{"clinic_id":"{clinic_id}"}}',
        object_id,
    )  # fmt: skip


def test_a_new_clinic_gets_a_trunk_then_a_rule_on_it() -> None:
    changes = plan([PhoneLine("a", ("+15125550142",))], ACCESS, AGENT, [], [], prune=False)
    assert [(c.action, c.kind) for c in changes] == [
        ("create", "trunk"),
        ("create", "dispatch rule"),
    ]
    assert changes[1].rule is not None
    assert changes[1].rule.trunk_ids == (NEW_TRUNK,)
    assert changes[1].rule.dispatch_metadata == '{"clinic_id":"a"}'


def test_the_password_is_compared_but_never_printed() -> None:
    current = Trunk(
        "a", ("+15125550142",), TrunkAccess(("203.0.113.0/24",), "carrier", "old"), "T1"
    )
    [change, _] = plan(
        [PhoneLine("a", ("+15125550142",))], ACCESS, AGENT, [current], [_rule("a", "T1", "R1")],
        prune=False,
    )  # fmt: skip
    assert change.action == "update"
    text = change.describe(dry_run=True)
    assert "auth password: changed" in text
    assert "hunter2" not in text
    assert "old" not in text


def test_duplicates_and_removed_clinics_are_only_deleted_with_prune() -> None:
    trunks = [
        Trunk("a", ("+15125550142",), ACCESS, "T1"),
        Trunk("a", ("+15125550142",), ACCESS, "T2"),
        Trunk("gone", ("+15125550180",), ACCESS, "T3"),
    ]
    rules = [_rule("a", "T1", "R1"), _rule("gone", "T3", "R3")]
    lines = [PhoneLine("a", ("+15125550142",))]
    kept = plan(lines, ACCESS, AGENT, trunks, rules, prune=False)
    assert [c.action for c in kept] == ["keep"] * 5
    pruned = plan(lines, ACCESS, AGENT, trunks, rules, prune=True)
    deleted = [(c.kind, c.object_id) for c in pruned if c.action == "delete"]
    assert deleted == [("dispatch rule", "R3"), ("trunk", "T2"), ("trunk", "T3")]


def test_only_our_marker_makes_an_object_ours() -> None:
    assert managed_clinic(marker("a")) == "a"
    for metadata in ["", "{}", "not json", '{"clinic_id":"a"}', '["x"]', '{"managed_by":"x"}']:
        assert managed_clinic(metadata) is None


def test_a_trunk_open_to_anyone_is_refused() -> None:
    assert "accepts calls from anyone" in str(Settings(sip_allowed_addresses="").access_problem())
    assert "both" in str(Settings(sip_auth_username="u").access_problem())
    assert Settings(sip_allowed_addresses="203.0.113.7").access_problem() is None
    assert Settings(sip_allowed_addresses=" 1.2.3.4 , 5.6.7.0/24,").allowed_addresses == (
        "1.2.3.4",
        "5.6.7.0/24",
    )
