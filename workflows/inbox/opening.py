"""Opening escalations: an action policy sent for approval, or one whose execution failed or
had an unknown outcome, put in front of the people of its queue (workflows.queues routes
it), due within its SLA and told to the live inbox after commit."""

from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from autonomy.core.compiled_sql import insert_together
from governance import ledger
from governance.models import AuditEntry, DecisionRecord
from workflows import live
from workflows.inbox.records import INBOX, name
from workflows.models import ActionRequest, Escalation, EscalationKind, Queue, RiskTier
from workflows.queues import route_queue
from workflows.reasons import plain_reason

__all__ = [
    "PRIORITY",
    "announce",
    "escalate_failure",
    "insert_escalation",
    "new_escalation",
    "open_escalation",
    "planned_approval",
]

PRIORITY = {RiskTier.CRITICAL: 1, RiskTier.HIGH: 1, RiskTier.MEDIUM: 2, RiskTier.LOW: 3}


def _priority(action: ActionRequest) -> int:
    return PRIORITY.get(action.action_type.risk_tier, 2)


def new_escalation(
    action: ActionRequest,
    queue: Queue,
    *,
    actor,
    kind: str,
    reason: str,
    matched: list,
    priority: int,
    sla_due_at: datetime,
    now: datetime,
    previous: Escalation | None = None,
    assigned_to=None,
    warned_at: datetime | None = None,
    **data,
) -> tuple[Escalation, AuditEntry]:
    """A new escalation and its `escalation.opened` ledger entry, both unsaved."""
    escalation = Escalation(
        action=action,
        queue=queue,
        business_unit_id=action.business_unit_id,
        kind=kind,
        priority=priority,
        reason=reason,
        matched=matched,
        sla_due_at=sla_due_at,
        warned_at=warned_at,
        assigned_to=assigned_to,
        previous=previous,
        created_at=now,
    )
    entry = ledger.entry(
        "escalation.opened",
        ledger.Actor.of(actor),
        escalation,
        business_unit_id=escalation.business_unit_id,
        data={
            "action_id": str(action.pk),
            "queue": queue.slug,
            "kind": kind,
            "priority": priority,
            "sla_due_at": sla_due_at.isoformat(),
            "previous": str(previous.pk) if previous else None,
            "assigned_to": name(assigned_to) if assigned_to else None,
            **data,
        },
    )
    return escalation, entry


def insert_escalation(action: ActionRequest, queue: Queue, **fields) -> Escalation:
    """Insert a new escalation with its ledger entry, in the caller's transaction, and
    announce it after commit."""
    escalation, entry = new_escalation(action, queue, **fields)
    insert_together(escalation, entry)
    announce(escalation)
    return escalation


def announce(escalation: Escalation, activity: ActionRequest | None = None) -> None:
    """Push a newly opened escalation to the people who may work it, after commit; with
    `activity` (its action as committed, with its relations), the action's activity row
    too, in the same round trip."""
    if activity is None:
        live.publish_escalation(escalation.pk, "escalation.new", escalation)
    else:
        live.publish_new_escalation(escalation, activity)


def planned_approval(
    action: ActionRequest, decision_record: DecisionRecord, route: str, *, now=None
) -> tuple[Escalation, AuditEntry]:
    """The escalation `open_escalation` would open and its ledger entry, unsaved: for the
    gateway, which inserts them with the action in one statement
    (workflows.statements.record_governed_action) and then calls announce()."""
    now = now or timezone.now()
    queue = route_queue(action, route)
    sla_seconds = decision_record.sla_seconds or queue.sla_seconds
    return new_escalation(
        action,
        queue,
        actor=INBOX,
        kind=EscalationKind.APPROVAL,
        reason=plain_reason(decision_record),
        matched=list(decision_record.matched),
        priority=_priority(action),
        sla_due_at=now + timedelta(seconds=sla_seconds),
        now=now,
        decision_id=str(decision_record.pk),
        route=route,
    )


@transaction.atomic
def open_escalation(
    action: ActionRequest, decision_record: DecisionRecord, route: str, *, now=None
) -> Escalation:
    """Put an action (saved) that policy sent for approval in front of the people of its
    queue (see workflows.queues for routing), due within the rule's SLA or else the
    queue's."""
    escalation, entry = planned_approval(action, decision_record, route, now=now)
    insert_together(escalation, entry)
    announce(escalation)
    return escalation


@transaction.atomic
def escalate_failure(
    action: ActionRequest, kind: EscalationKind, reason: str, *, now=None
) -> Escalation:
    """Put an action whose execution failed (`EscalationKind.FAILURE`) or whose outcome is
    unknown (`RECONCILIATION`) in front of people: its action type's queue, else its unit's."""
    now = now or timezone.now()
    queue = route_queue(action, "")
    return insert_escalation(
        action,
        queue,
        actor=INBOX,
        kind=kind,
        reason=reason,
        matched=[],
        priority=_priority(action),
        sla_due_at=now + timedelta(seconds=queue.sla_seconds),
        now=now,
    )
