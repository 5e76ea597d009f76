"""Deciding an agent's action: facts from the registry, kill switches, limits, policy.

`decide_action()` is the one path from "agent X wants to do Y with payload Z" to a
recorded Decision. The gateway calls it with counting on (limits consume budget); the
what-if check calls it with counting off. Either way the decision is recorded as a
DecisionRecord and a ledger entry in the caller's transaction, with sensitive payload
fields as keyed hashes.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agents.models import Agent
from agents.services import suspend_automatically
from governance import ledger, limits, policies, switches
from governance.models import DecisionRecord, KillSwitch, PolicyVersion
from governance.pdp import ActionFacts, AgentFacts, Decision, DecisionRequest, Effect
from governance.redaction import fingerprint, redact
from workflows.models import ActionType

__all__ = ["Outcome", "action_facts", "agent_facts", "decide_action", "decision_json"]


@dataclass(frozen=True)
class Outcome:
    """A decision, the record it was written to, the ledger data describing it, and what
    was counted against limits (the arguments of `limits.refund`, if the caller must undo
    them because its transaction fails)."""

    decision: Decision
    record: DecisionRecord
    ledger_data: dict
    counted: tuple = ()


def agent_facts(agent: Agent) -> AgentFacts:
    """What the decision point knows about an agent."""
    return AgentFacts(
        slug=agent.slug,
        role=agent.role.slug,
        business_unit=agent.business_unit.slug,
        autonomy_level=int(agent.autonomy_level),
        capabilities=tuple(agent.capabilities or ()),
        granted_patterns=tuple(agent.role.action_patterns or ()),
    )


def action_facts(action: str, action_type: ActionType | None) -> ActionFacts:
    """What the decision point knows about an action (defaults for an unregistered one)."""
    if action_type is None:
        return ActionFacts(name=action)
    return ActionFacts(
        name=action,
        data_classification=action_type.data_classification,
        risk_tier=action_type.risk_tier,
    )


def _switch_decision(switch, started: float) -> Decision:
    reason = f"Kill switch engaged ({KillSwitch.Kind(switch.kind).label.lower()}): {switch.reason}"
    return Decision(
        effect=Effect.DENY,
        matched=(),
        reasons=(reason,),
        route=None,
        sla_seconds=None,
        policy_version_ids=(),
        errors=(),
        duration_us=(timezone.now().timestamp() - started) * 1e6,
    )


def decision_json(decision: Decision) -> dict:
    """A decision as plain JSON values, for records, the ledger and API responses."""
    return {
        "effect": str(decision.effect),
        "shadow": decision.shadow,
        "matched": [
            {"id": str(m.id), "name": m.name, "effect": str(m.effect), "log_only": m.log_only}
            for m in decision.matched
        ],
        "reasons": list(decision.reasons),
        "errors": list(decision.errors),
        "route": decision.route or "",
        "sla_seconds": decision.sla_seconds,
        "policy_version_ids": [str(v) for v in decision.policy_version_ids],
        "duration_us": round(decision.duration_us, 1),
    }


def _suspend_at_hard_limit(agent: Agent, specs, decision: Decision) -> None:
    """Suspend the agent when a hard limit that says so decided against it."""
    auto = {str(spec.rule_id): spec for spec in specs if spec.suspend_on_hard}
    for matched in decision.matched:
        rule_id, _, kind = str(matched.id).partition(":")
        if kind == "hard" and rule_id in auto and not matched.log_only:
            suspend_automatically(agent, f"Hard limit reached: {matched.name}")
            return


def decide_action(
    agent: Agent,
    action: str,
    payload: dict,
    *,
    actor,
    source: str = DecisionRecord.Source.WHAT_IF,
    reported: dict | None = None,
    count: bool = False,
    now: datetime | None = None,
    action_type: ActionType | None = None,
    persist: bool = True,
    policy_version: PolicyVersion | None = None,
) -> Outcome:
    """Decide and record one action of `agent`. With `count`, the action is counted
    against its limits (and a denied action's budget use is refunded). With `persist` the
    record and its ledger entry are written together, in one transaction; without it
    nothing is written and no transaction is opened: the caller inserts `Outcome.record`
    and puts `Outcome.ledger_data` in its own ledger entry, in its own transaction. With
    `policy_version` (a what-if against a draft), that version stands in for its policy's
    published one, its limits included."""
    now = now or timezone.now()
    started = now.timestamp()
    if action_type is None:
        action_type = ActionType.objects.filter(name=action).first()
    facts = agent_facts(agent)
    switch = switches.blocking_switch(facts.business_unit, action)
    refund_args: tuple = ()
    if switch is not None:
        request_context = limits.context_for(agent.slug, facts.business_unit, now)
        decision = _switch_decision(switch, started)
    else:
        if policy_version is None:
            policy_set, all_specs = policies.current_policy_set(), policies.current_limit_specs()
        else:
            policy_set = policies.draft_policy_set(policy_version)
            all_specs = policies.draft_limit_specs(policy_version)
        specs = limits.applicable(
            all_specs,
            facts.slug,
            facts.role,
            facts.business_unit,
            facts.autonomy_level,
            action,
        )
        if count:
            # One round trip counts the action and reads the activity counts before it.
            totals = limits.count(
                specs, facts.slug, facts.business_unit, action, payload, reported or {}, now=now
            )
            request_context = limits.context_for(
                agent.slug, facts.business_unit, now, counts=totals.activity
            )
        else:
            totals = limits.totals(specs, facts.slug, facts.business_unit, now=now)
            request_context = limits.context_for(agent.slug, facts.business_unit, now)
        request_context = {**request_context, "limits": totals}
        request = DecisionRequest(
            agent=facts,
            action=action_facts(action, action_type),
            payload=payload,
            context=request_context,
        )
        decision = policy_set.decide(request)
        if count:
            refund_args = (specs, facts.slug, facts.business_unit, action, payload, reported or {})
        if count:
            _suspend_at_hard_limit(agent, specs, decision)
        if count and decision.effect == Effect.DENY:
            # A denied action consumes no budget (its attempt still counts as an action).
            limits.refund(*refund_args, now=now)
            refund_args = ()
    sensitive = list(action_type.sensitive_fields) if action_type else []
    stored_payload = redact(payload, sensitive)
    body = decision_json(decision)
    record = DecisionRecord(
        created_at=now,
        source=source,
        agent_id=agent.pk,
        agent_slug=agent.slug,
        role=facts.role,
        business_unit_id=agent.business_unit_id,
        autonomy_level=facts.autonomy_level,
        capabilities=list(facts.capabilities),
        granted_patterns=list(facts.granted_patterns),
        action=action,
        data_classification=action_type.data_classification if action_type else "internal",
        risk_tier=action_type.risk_tier if action_type else "low",
        payload=stored_payload,
        payload_hash=fingerprint(payload),
        context=request_context,
        effect=body["effect"],
        shadow=decision.shadow,
        matched=body["matched"],
        reasons=body["reasons"],
        errors=body["errors"],
        route=body["route"],
        sla_seconds=decision.sla_seconds,
        policy_version_ids=body["policy_version_ids"],
        duration_us=decision.duration_us,
    )
    ledger_data = {
        "decision_id": str(record.pk),
        "source": source,
        "agent": agent.slug,
        "action": action,
        "input_hash": fingerprint(
            {"action": action, "payload": payload, "context": request_context}
        ),
        "effect": body["effect"],
        "matched": body["matched"],
        "policy_version_ids": body["policy_version_ids"],
        "reasons": body["reasons"],
        "errors": body["errors"],
        "kill_switch": switch.id if switch is not None else None,
    }
    if policy_version is not None:
        ledger_data["against_version"] = policy_version.pk
    if persist:
        with transaction.atomic(savepoint=False):
            record.save(force_insert=True)
            ledger.record(
                "decision.made",
                ledger.Actor.of(actor),
                object_type="governance.decisionrecord",
                object_id=str(record.pk),
                object_repr=f"{agent.slug} {action}: {body['effect']}"[:200],
                business_unit_id=agent.business_unit_id,
                data=ledger_data,
            )
    return Outcome(
        decision, record, ledger_data, (*refund_args, now) if count and refund_args else ()
    )
