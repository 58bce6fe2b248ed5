"""What `sip sync` must change: the clinics' phone lines against what LiveKit holds.

Pure logic, no I/O. Each clinic with a phone line gets one inbound trunk (its numbers) and
one dispatch rule (a room per call, the receptionist dispatched with the clinic's id).
Objects we create carry `MANAGED_BY` in their metadata; anything without it is never
touched, so hand-made trunks and rules on the same LiveKit project are safe.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal, TypeVar

MANAGED_BY = "bright-smile sip sync"
NEW_TRUNK = "(the new trunk)"


@dataclass(frozen=True)
class PhoneLine:
    """A clinic's inbound numbers, read from its profile."""

    clinic_id: str
    inbound_numbers: tuple[str, ...]


@dataclass(frozen=True)
class TrunkAccess:
    """Who may send calls into the trunks: the carrier's addresses and/or digest auth."""

    allowed_addresses: tuple[str, ...] = ()
    auth_username: str = ""
    auth_password: str = field(default="", repr=False)


@dataclass(frozen=True)
class Trunk:
    """An inbound trunk as we want it (object_id empty) or as LiveKit holds it."""

    clinic_id: str
    numbers: tuple[str, ...]
    access: TrunkAccess
    object_id: str = ""

    @property
    def name(self) -> str:
        return f"bright-smile {self.clinic_id}"


@dataclass(frozen=True)
class Rule:
    """A dispatch rule: calls on `trunk_ids` each get a room `room_prefix…` with the agent."""

    clinic_id: str
    trunk_ids: tuple[str, ...]
    room_prefix: str
    agent_name: str
    dispatch_metadata: str
    object_id: str = ""

    @property
    def name(self) -> str:
        return f"bright-smile {self.clinic_id}"


_Managed = TypeVar("_Managed", Trunk, Rule)
Kind = Literal["trunk", "dispatch rule"]
Action = Literal["create", "update", "delete", "keep"]


@dataclass(frozen=True)
class Change:
    """One step of the plan, with what differs in words an operator can check."""

    action: Action
    kind: Kind
    clinic_id: str
    object_id: str = ""
    differences: tuple[str, ...] = ()
    trunk: Trunk | None = None
    rule: Rule | None = None

    def describe(self, *, dry_run: bool) -> str:
        target = f"{self.kind} for clinic {self.clinic_id}"
        if self.object_id:
            target += f" ({self.object_id})"
        if self.action == "keep":
            line = f"  = {target}: unchanged"
        elif dry_run:
            line = f"  {_SIGN[self.action]} would {self.action} {target}"
        else:
            line = f"  {_SIGN[self.action]} {self.action}d {target}"
        return "\n".join([line, *(f"      {difference}" for difference in self.differences)])


_SIGN: dict[Action, str] = {"create": "+", "update": "~", "delete": "-", "keep": "="}


def marker(clinic_id: str) -> str:
    """The metadata that marks an object as ours, and for which clinic."""
    return json.dumps({"managed_by": MANAGED_BY, "clinic_id": clinic_id}, separators=(",", ":"))


def managed_clinic(metadata: str) -> str | None:
    """The clinic an object was created for, or None when it is not ours."""
    try:
        document = json.loads(metadata) if metadata else None
    except ValueError:
        return None
    if not isinstance(document, dict) or document.get("managed_by") != MANAGED_BY:
        return None
    clinic_id = document.get("clinic_id")
    return clinic_id if isinstance(clinic_id, str) and clinic_id else None


def dispatch_metadata(clinic_id: str) -> str:
    """The job metadata the receptionist reads, exactly as the token service writes it."""
    return json.dumps({"clinic_id": clinic_id}, separators=(",", ":"))


def room_prefix(clinic_id: str) -> str:
    """Each call gets its own room, `call-<clinic>-<random>`."""
    return f"call-{clinic_id}-"


def plan(
    lines: Sequence[PhoneLine],
    access: TrunkAccess,
    agent_name: str,
    existing_trunks: Iterable[Trunk],
    existing_rules: Iterable[Rule],
    *,
    prune: bool,
) -> list[Change]:
    """The changes that make LiveKit match `lines`: trunks first, then rules, then deletions.

    Without `prune`, objects of ours that the config no longer names are reported and kept.
    """
    trunks_by_clinic = _by_clinic(existing_trunks)
    rules_by_clinic = _by_clinic(existing_rules)
    wanted = {line.clinic_id for line in lines}
    changes: list[Change] = []
    rule_changes: list[Change] = []
    for line in sorted(lines, key=lambda item: item.clinic_id):
        desired = Trunk(line.clinic_id, tuple(sorted(line.inbound_numbers)), access)
        current_trunk = _first(trunks_by_clinic.get(line.clinic_id))
        changes.append(_trunk_change(desired, current_trunk))
        trunk_id = current_trunk.object_id if current_trunk else NEW_TRUNK
        desired_rule = Rule(
            line.clinic_id,
            (trunk_id,),
            room_prefix(line.clinic_id),
            agent_name,
            dispatch_metadata(line.clinic_id),
        )
        rule_changes.append(_rule_change(desired_rule, _first(rules_by_clinic.get(line.clinic_id))))
    changes.extend(rule_changes)
    stale_rules = [
        rule
        for clinic_id, rules in sorted(rules_by_clinic.items())
        for rule in (rules if clinic_id not in wanted else rules[1:])
    ]
    stale_trunks = [
        trunk
        for clinic_id, trunks in sorted(trunks_by_clinic.items())
        for trunk in (trunks if clinic_id not in wanted else trunks[1:])
    ]
    for rule in stale_rules:
        changes.append(_stale("dispatch rule", rule.clinic_id, rule.object_id, prune=prune))
    for trunk in stale_trunks:
        changes.append(_stale("trunk", trunk.clinic_id, trunk.object_id, prune=prune))
    return changes


def _stale(kind: Kind, clinic_id: str, object_id: str, *, prune: bool) -> Change:
    if prune:
        return Change("delete", kind, clinic_id, object_id, ("no longer in the clinic config",))
    return Change(
        "keep",
        kind,
        clinic_id,
        object_id,
        ("no longer in the clinic config; left in place (run with --prune to remove it)",),
    )


def _trunk_change(desired: Trunk, current: Trunk | None) -> Change:
    if current is None:
        return Change(
            "create", "trunk", desired.clinic_id, differences=_trunk_summary(desired), trunk=desired
        )
    differences: list[str] = []
    if tuple(sorted(current.numbers)) != desired.numbers:
        differences.append(f"numbers: {_listed(current.numbers)} -> {_listed(desired.numbers)}")
    if tuple(sorted(current.access.allowed_addresses)) != tuple(
        sorted(desired.access.allowed_addresses)
    ):
        differences.append(
            f"allowed addresses: {_listed(current.access.allowed_addresses)} -> "
            f"{_listed(desired.access.allowed_addresses)}"
        )
    if current.access.auth_username != desired.access.auth_username:
        differences.append(
            f"auth username: {current.access.auth_username or '(none)'} -> "
            f"{desired.access.auth_username or '(none)'}"
        )
    if current.access.auth_password != desired.access.auth_password:
        differences.append("auth password: changed")  # never printed
    if not differences:
        return Change("keep", "trunk", desired.clinic_id, current.object_id)
    return Change(
        "update",
        "trunk",
        desired.clinic_id,
        current.object_id,
        tuple(differences),
        trunk=replace(desired, object_id=current.object_id),
    )


def _rule_change(desired: Rule, current: Rule | None) -> Change:
    if current is None:
        summary = (
            f"a room per call named {desired.room_prefix}…, agent {desired.agent_name!r} "
            f"with metadata {desired.dispatch_metadata}",
        )
        return Change(
            "create", "dispatch rule", desired.clinic_id, differences=summary, rule=desired
        )
    differences: list[str] = []
    if current.trunk_ids != desired.trunk_ids:
        differences.append(f"trunks: {_listed(current.trunk_ids)} -> {_listed(desired.trunk_ids)}")
    if current.room_prefix != desired.room_prefix:
        differences.append(f"room prefix: {current.room_prefix!r} -> {desired.room_prefix!r}")
    if current.agent_name != desired.agent_name:
        differences.append(f"agent: {current.agent_name!r} -> {desired.agent_name!r}")
    if current.dispatch_metadata != desired.dispatch_metadata:
        differences.append(
            f"dispatch metadata: {current.dispatch_metadata or '(none)'} -> "
            f"{desired.dispatch_metadata}"
        )
    if not differences:
        return Change("keep", "dispatch rule", desired.clinic_id, current.object_id)
    return Change(
        "update",
        "dispatch rule",
        desired.clinic_id,
        current.object_id,
        tuple(differences),
        rule=replace(desired, object_id=current.object_id),
    )


def _trunk_summary(trunk: Trunk) -> tuple[str, ...]:
    summary = [f"numbers: {_listed(trunk.numbers)}"]
    if trunk.access.allowed_addresses:
        summary.append(f"allowed addresses: {_listed(trunk.access.allowed_addresses)}")
    if trunk.access.auth_username:
        summary.append(f"auth username: {trunk.access.auth_username} (password from the Secret)")
    return tuple(summary)


def _listed(values: Sequence[str]) -> str:
    return ", ".join(values) if values else "(none)"


def _by_clinic(objects: Iterable[_Managed]) -> dict[str, list[_Managed]]:
    grouped: dict[str, list[_Managed]] = {}
    for item in sorted(objects, key=lambda obj: obj.object_id):
        grouped.setdefault(item.clinic_id, []).append(item)
    return grouped


def _first(items: list[_Managed] | None) -> _Managed | None:
    return items[0] if items else None
