"""Deciding an agent's action: facts from the registry, kill switches, limits, policy.

A decision is taken in steps, which the gateway spells out (workflows.gateway) and
`decide_action()` composes for everyone else (the what-if check, a re-decision):

    question = ask(agent, action, payload, ...)   # facts, kill switch, policies, limits
    with counted(question) as counting:           # the action counts against its limits
        outcome = decide(question, counting)      # no side effects: record not yet saved
        suspend_at_hard_limit(question, outcome.decision)
        if denied: counting.refund()              # a denied action consumes no budget
        ... record the outcome (an error here refunds the count too) ...

The decision is recorded as a DecisionRecord and a ledger entry, with sensitive payload
fields as keyed hashes.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agents.models import Agent
from agents.services import suspend_automatically
from governance import ledger, limits, policies, switches
from governance.models import DecisionRecord, KillSwitch, PolicyVersion
from governance.pdp import (
    ActionFacts,
    AgentFacts,
    CompiledPolicySet,
    Decision,
    DecisionRequest,
    Effect,
)
from governance.redaction import fingerprint, redact
from workflows.models import ActionType

__all__ = [
    "Outcome",
    "Question",
    "action_facts",
    "agent_facts",
    "ask",
    "counted",
    "decide",
    "decide_action",
    "decision_json",
    "save",
    "suspend_at_hard_limit",
]


@dataclass(frozen=True)
class Question:
    """Who asks to do what, when, and what decides it: a kill switch that blocks it, or
    the policy set and the limits that apply to it (`policy_version`: a draft standing in
    for its policy's published version, in a what-if)."""

    agent: Agent
    facts: AgentFacts
    action: str
    action_type: ActionType | None
    payload: dict
    reported: dict
    now: datetime
    switch: KillSwitch | None
    policy_set: CompiledPolicySet | None
    specs: list[limits.LimitSpec]
    policy_version: PolicyVersion | None = None


@dataclass(frozen=True)
class Outcome:
    """A decision, its record (saved by save() or by the caller's own insert) and the
    ledger data describing it."""

    decision: Decision
    record: DecisionRecord
    ledger_data: dict


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


def ask(
    agent: Agent,
    action: str,
    payload: dict,
    *,
    action_type: ActionType | None = None,
    reported: dict | None = None,
    now: datetime | None = None,
    policy_version: PolicyVersion | None = None,
) -> Question:
    """The question of `agent` doing `action` with `payload`, with what decides it."""
    now = now or timezone.now()
    if action_type is None:
        action_type = ActionType.objects.filter(name=action).first()
    facts = agent_facts(agent)
    switch = switches.blocking_switch(facts.business_unit, action)
    policy_set, specs = None, []
    if switch is None:
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
    return Question(
        agent=agent,
        facts=facts,
        action=action,
        action_type=action_type,
        payload=payload,
        reported=reported or {},
        now=now,
        switch=switch,
        policy_set=policy_set,
        specs=specs,
        policy_version=policy_version,
    )


@contextmanager
def counted(question: Question) -> Iterator[limits.Counting]:
    """Count the action against its limits for the block (limits.counted: refunded if the
    block raises or calls `refund()`). An action a kill switch blocks counts nothing."""
    if question.switch is not None:
        yield limits.Counting.nothing()
        return
    facts = question.facts
    with limits.counted(
        question.specs,
        facts.slug,
        facts.business_unit,
        question.action,
        question.payload,
        question.reported,
        now=question.now,
    ) as counting:
        yield counting


def decide(
    question: Question,
    counting: limits.Counting | None = None,
    *,
    source: str = DecisionRecord.Source.WHAT_IF,
) -> Outcome:
    """Decide `question`, with the totals of `counting` (else the limits' current totals),
    and build its record and ledger data. Writes nothing."""
    agent, facts, now = question.agent, question.facts, question.now
    started = now.timestamp()
    if question.switch is not None:
        request_context = limits.context_for(agent.slug, facts.business_unit, now)
        decision = _switch_decision(question.switch, started)
    else:
        if counting is not None:
            totals = counting.totals
            request_context = limits.context_for(
                agent.slug, facts.business_unit, now, counts=totals.activity
            )
        else:
            totals = limits.totals(question.specs, facts.slug, facts.business_unit, now=now)
            request_context = limits.context_for(agent.slug, facts.business_unit, now)
        request_context = {**request_context, "limits": totals}
        request = DecisionRequest(
            agent=facts,
            action=action_facts(question.action, question.action_type),
            payload=question.payload,
            context=request_context,
        )
        decision = question.policy_set.decide(request)  # type: ignore[union-attr]
    return _outcome(question, decision, request_context, source)


def _outcome(question: Question, decision: Decision, request_context: dict, source) -> Outcome:
    """The decision with its (unsaved) record and its ledger data."""
    agent, facts, action, action_type = (
        question.agent,
        question.facts,
        question.action,
        question.action_type,
    )
    payload, switch = question.payload, question.switch
    sensitive = list(action_type.sensitive_fields) if action_type else []
    stored_payload = redact(payload, sensitive)
    body = decision_json(decision)
    record = DecisionRecord(
        created_at=question.now,
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
    if question.policy_version is not None:
        ledger_data["against_version"] = question.policy_version.pk
    return Outcome(decision, record, ledger_data)


def suspend_at_hard_limit(question: Question, decision: Decision) -> None:
    """Suspend the agent when a hard limit that says so decided against it."""
    suspending = {str(spec.rule_id) for spec in question.specs if spec.suspend_on_hard}
    for matched in decision.matched:
        if matched.over_hard_limit() and str(matched.limit.rule_id) in suspending:  # type: ignore[union-attr]
            suspend_automatically(question.agent, f"Hard limit reached: {matched.name}")
            return


def save(outcome: Outcome, actor) -> None:
    """Write the record and its `decision.made` ledger entry, in one transaction."""
    record = outcome.record
    with transaction.atomic(savepoint=False):
        record.save(force_insert=True)
        ledger.record(
            "decision.made",
            ledger.Actor.of(actor),
            object_type="governance.decisionrecord",
            object_id=str(record.pk),
            object_repr=f"{record.agent_slug} {record.action}: {record.effect}"[:200],
            business_unit_id=record.business_unit_id,
            data=outcome.ledger_data,
        )


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
    """Decide one action of `agent` (the steps of the module docstring). With `count`, the
    action is counted against its limits, as the gateway counts it. With `persist` the
    record and its ledger entry are written (save()). With `policy_version` (a what-if
    against a draft), that version stands in for its policy's published one, its limits
    included."""
    question = ask(
        agent,
        action,
        payload,
        action_type=action_type,
        reported=reported,
        now=now,
        policy_version=policy_version,
    )
    if not count:
        outcome = decide(question, source=source)
        if persist:
            save(outcome, actor)
        return outcome
    with counted(question) as counting:
        outcome = decide(question, counting, source=source)
        suspend_at_hard_limit(question, outcome.decision)
        if outcome.decision.effect == Effect.DENY:
            counting.refund()
        if persist:
            save(outcome, actor)
    return outcome
