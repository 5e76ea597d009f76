"""Handing an escalation over: to another queue of its unit or the COE's (a fresh SLA), or
to a person who may decide it (the same SLA), who then alone decides it. The old
escalation is `reassigned` and a new one, linked by `previous`, takes over."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from autonomy.core.principals import COE_GROUP, is_coe
from governance.scoping import VIEW, has_bu_perm
from workflows import live
from workflows.inbox.errors import InboxError
from workflows.inbox.opening import insert_escalation
from workflows.inbox.records import lock, name, record
from workflows.inbox.rules import require_open, require_scope
from workflows.models import ActionRequest, Escalation, Queue
from workflows.queues import may_work, queue_fits

__all__ = ["assignable_people", "reassign"]


def _assignee_problem(person, action: ActionRequest, escalation: Escalation) -> str:
    """Why `person` may not be handed the escalation ("" if they may): they must be active,
    work its queue, be COE staff or a member of its business unit, not own its agent and
    not hold it already."""
    if person.pk == action.agent.owner_id:
        return f"{name(person)} owns agent {action.agent.slug} and may not decide its requests."
    if person.pk == escalation.assigned_to_id:
        return f"This escalation is already assigned to {name(person)}."
    if not may_work(person, escalation.queue) or not (
        is_coe(person) or has_bu_perm(person, VIEW, escalation.business_unit_id)
    ):
        return f"{name(person)} may not decide escalations of the queue {escalation.queue.name}."
    return ""


def assignable_people(escalation: Escalation) -> QuerySet:
    """The people the escalation may be handed to (see `_assignee_problem`), by username."""
    action = escalation.action
    people = get_user_model().objects.filter(is_active=True)
    # COE staff and the unit's members: everyone who can pass the check, and few more.
    candidates = people.filter(
        Q(is_superuser=True)
        | Q(groups__name=COE_GROUP)
        | Q(memberships__business_unit_id=escalation.business_unit_id)
    ).distinct()
    allowed = [
        person.pk for person in candidates if not _assignee_problem(person, action, escalation)
    ]
    return people.filter(pk__in=allowed).order_by("username")


@transaction.atomic
def reassign(
    user,
    escalation: Escalation,
    *,
    queue: Queue | None = None,
    person=None,
    note: str = "",
    now=None,
) -> Escalation:
    """Hand the escalation to another queue (of its unit, or the COE's; a fresh SLA) or to a
    person who may decide it in its queue (same SLA; see `assignable_people`), who then
    alone decides it. Returns the new escalation, linked to the old one by `previous`; the
    old one is `reassigned`."""
    if (queue is None) == (person is None):
        raise InboxError(
            "Choose a queue or a person to reassign to.", {"queue": ["Choose one target."]}
        )
    now = now or timezone.now()
    action, escalation = lock(escalation)
    require_scope(user, escalation)
    require_open(user, escalation)
    target = queue or escalation.queue
    if queue is not None and (
        not queue_fits(queue, escalation.business_unit_id) or queue.pk == escalation.queue_id
    ):
        raise InboxError(
            f"Escalations of this unit cannot move to {queue.name}.",
            {"queue": ["Choose another queue of the unit, or a COE queue."]},
        )
    if person is not None:
        problem = _assignee_problem(person, action, escalation)
        if problem:
            raise InboxError(problem, {"person": ["Choose someone who may decide it."]})
    change = escalation.reassign(user, (note or "").strip(), now)
    escalation.save(update_fields=change.fields)
    successor = insert_escalation(
        action,
        target,
        actor=user,
        kind=escalation.kind,
        reason=escalation.reason,
        matched=escalation.matched,
        priority=escalation.priority,
        sla_due_at=(
            escalation.sla_due_at if queue is None else now + timedelta(seconds=target.sla_seconds)
        ),
        warned_at=escalation.warned_at if queue is None else None,
        now=now,
        previous=escalation,
        assigned_to=person,
    )
    record(
        change.verb,
        user,
        escalation,
        **change.data,
        to=str(successor.pk),
        to_queue=target.slug,
        to_person=name(person) if person is not None else None,
    )
    live.publish_escalation(escalation.pk, "escalation.decided")
    return successor
