"""LiveKit's SIP API: reads our trunks and rules, and applies a plan's changes."""

from __future__ import annotations

from livekit import api
from livekit.protocol.agent_dispatch import RoomAgentDispatch
from livekit.protocol.room import RoomConfiguration
from livekit.protocol.sip import (
    CreateSIPDispatchRuleRequest,
    CreateSIPInboundTrunkRequest,
    DeleteSIPDispatchRuleRequest,
    DeleteSIPTrunkRequest,
    ListSIPDispatchRuleRequest,
    ListSIPInboundTrunkRequest,
    SIPDispatchRule,
    SIPDispatchRuleIndividual,
    SIPDispatchRuleInfo,
    SIPInboundTrunkInfo,
)

from .plan import NEW_TRUNK, Change, Rule, Trunk, TrunkAccess, managed_clinic, marker


async def read_managed(lkapi: api.LiveKitAPI) -> tuple[list[Trunk], list[Rule]]:
    """Our inbound trunks and dispatch rules (those carrying our marker), nothing else."""
    trunks = (await lkapi.sip.list_inbound_trunk(ListSIPInboundTrunkRequest())).items
    rules = (await lkapi.sip.list_dispatch_rule(ListSIPDispatchRuleRequest())).items
    managed_trunks = [
        _trunk(info, clinic_id)
        for info in trunks
        if (clinic_id := managed_clinic(info.metadata)) is not None
    ]
    managed_rules = [
        _rule(info, clinic_id)
        for info in rules
        if (clinic_id := managed_clinic(info.metadata)) is not None
    ]
    return managed_trunks, managed_rules


async def apply(lkapi: api.LiveKitAPI, changes: list[Change]) -> dict[str, str]:
    """Carries out the plan in order; returns the ids of the trunks created, by clinic."""
    created_trunks: dict[str, str] = {}
    for change in changes:
        if change.action == "keep":
            continue
        if change.kind == "trunk":
            created = await _apply_trunk(lkapi, change)
            if created:
                created_trunks[change.clinic_id] = created
        else:
            await _apply_rule(lkapi, change, created_trunks)
    return created_trunks


async def _apply_trunk(lkapi: api.LiveKitAPI, change: Change) -> str | None:
    if change.action == "delete":
        await lkapi.sip.delete_trunk(DeleteSIPTrunkRequest(sip_trunk_id=change.object_id))
        return None
    assert change.trunk is not None
    info = _trunk_info(change.trunk)
    if change.action == "create":
        created = await lkapi.sip.create_inbound_trunk(CreateSIPInboundTrunkRequest(trunk=info))
        return created.sip_trunk_id
    await lkapi.sip.update_inbound_trunk(change.object_id, info)
    return None


async def _apply_rule(
    lkapi: api.LiveKitAPI, change: Change, created_trunks: dict[str, str]
) -> None:
    if change.action == "delete":
        await lkapi.sip.delete_dispatch_rule(
            DeleteSIPDispatchRuleRequest(sip_dispatch_rule_id=change.object_id)
        )
        return
    assert change.rule is not None
    trunk_ids = [
        created_trunks[change.clinic_id] if trunk_id == NEW_TRUNK else trunk_id
        for trunk_id in change.rule.trunk_ids
    ]
    info = _rule_info(change.rule, trunk_ids)
    if change.action == "create":
        await lkapi.sip.create_dispatch_rule(
            CreateSIPDispatchRuleRequest(
                rule=info.rule,
                trunk_ids=trunk_ids,
                name=info.name,
                metadata=info.metadata,
                room_config=info.room_config,
            )
        )
    else:
        await lkapi.sip.update_dispatch_rule(change.object_id, info)


def _trunk_info(trunk: Trunk) -> SIPInboundTrunkInfo:
    return SIPInboundTrunkInfo(
        name=trunk.name,
        metadata=marker(trunk.clinic_id),
        numbers=list(trunk.numbers),
        allowed_addresses=list(trunk.access.allowed_addresses),
        auth_username=trunk.access.auth_username,
        auth_password=trunk.access.auth_password,
    )


def _rule_info(rule: Rule, trunk_ids: list[str]) -> SIPDispatchRuleInfo:
    return SIPDispatchRuleInfo(
        name=rule.name,
        metadata=marker(rule.clinic_id),
        trunk_ids=trunk_ids,
        rule=SIPDispatchRule(
            dispatch_rule_individual=SIPDispatchRuleIndividual(room_prefix=rule.room_prefix)
        ),
        room_config=RoomConfiguration(
            agents=[RoomAgentDispatch(agent_name=rule.agent_name, metadata=rule.dispatch_metadata)]
        ),
    )


def _trunk(info: SIPInboundTrunkInfo, clinic_id: str) -> Trunk:
    return Trunk(
        clinic_id,
        tuple(info.numbers),
        TrunkAccess(tuple(info.allowed_addresses), info.auth_username, info.auth_password),
        info.sip_trunk_id,
    )


def _rule(info: SIPDispatchRuleInfo, clinic_id: str) -> Rule:
    agents = list(info.room_config.agents)
    return Rule(
        clinic_id,
        tuple(info.trunk_ids),
        info.rule.dispatch_rule_individual.room_prefix
        if info.rule.HasField("dispatch_rule_individual")
        else "",
        agents[0].agent_name if len(agents) == 1 else "",
        agents[0].metadata if len(agents) == 1 else "",
        info.sip_dispatch_rule_id,
    )
