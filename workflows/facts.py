"""What the pages of the apps below workflows (which may not import it) show of it,
registered when workflows starts (workflows.apps):

- a decision's page (governance.links): the action it decided, the escalations it opened
  (queue, SLA, due time, state) and, for a decision without an action (a what-if), the
  queue its route names;
- the COE's review queue (agents.review): the action types an agent's role would reach,
  riskiest first.
"""

from collections.abc import Sequence

from django.urls import reverse
from django.utils import timezone

from agents.review import ReachableAction
from governance.durations import human_duration
from governance.links import DecisionFact
from governance.models import DecisionRecord, Effect
from governance.pdp import pattern_matches
from workflows.catalog import queue_with_slug
from workflows.models import (
    WORK,
    ActionRequest,
    ActionState,
    ActionType,
    EscalationState,
    Queue,
    RiskTier,
)

__all__ = ["decision_facts", "reachable_actions"]

RISK_RANK = {tier: rank for rank, tier in enumerate(RiskTier.values)}


def reachable_actions(patterns: Sequence[str]) -> list[ReachableAction]:
    """The action types that any of `patterns` grants."""
    return [
        ReachableAction(
            name=action_type.name,
            description=action_type.description,
            risk_tier=action_type.risk_tier,
            risk_label=_label(RiskTier, action_type.risk_tier),
            risk_rank=RISK_RANK.get(action_type.risk_tier, 0),
            data_classification=action_type.data_classification,
        )
        for action_type in ActionType.objects.order_by("name")
        if any(pattern_matches(pattern, action_type.name) for pattern in patterns)
    ]


def _label(choices, value: str) -> str:
    try:
        return choices(value).label
    except ValueError:
        return value


def decision_facts(record: DecisionRecord, user) -> list[DecisionFact]:
    """The action and escalations of `record` that `user` may see (each linked only when
    its page would answer them), or the queue its route names."""
    action = (
        ActionRequest.objects.filter(decision=record)
        .for_person(user)
        .select_related("action_type")
        .first()
    )
    if action is None:
        queue = queue_with_slug(record.route) if record.route else None
        if queue is None or record.effect != Effect.REQUIRE_APPROVAL:
            return []
        sla = human_duration(record.sla_seconds or queue.sla_seconds)
        return [DecisionFact("Queue", queue.name, note=f"SLA {sla}")]
    facts = [
        DecisionFact(
            "Action",
            f"{action.action_type.name} · {_label(ActionState, action.state).lower()}",
            url=reverse("workflows:action-detail", args=[action.pk]),
        )
    ]
    escalations = list(action.escalations.select_related("queue").order_by("created_at"))
    workable = set(
        Queue.objects.for_person(user, WORK)
        .filter(pk__in=[escalation.queue_id for escalation in escalations])
        .values_list("pk", flat=True)
    )
    for escalation in escalations:
        sla = human_duration((escalation.sla_due_at - escalation.created_at).total_seconds())
        due = timezone.localtime(escalation.sla_due_at).strftime("%Y-%m-%d %H:%M")
        facts.append(
            DecisionFact(
                "Escalation",
                f"{escalation.queue.name} · {_label(EscalationState, escalation.state).lower()}",
                url=reverse("workflows:escalation-detail", args=[escalation.pk])
                if escalation.queue_id in workable
                else "",
                note=f"SLA {sla} · due {due} UTC",
            )
        )
    return facts
