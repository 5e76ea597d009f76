"""SLAs: the queue of an escalation nearing its due time is warned once; an overdue one
moves up its queue's chain (`parent`, with a fresh SLA and a higher priority), and at the
chain's end it expires, and so does its pending action. Each step is its own transaction,
re-checked under the row lock, so overlapping sweeps do each step once."""

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from workflows import live
from workflows.inbox.opening import insert_escalation
from workflows.inbox.records import SLA, finish, lock, record, record_action, save_change
from workflows.models import ActionState, Escalation, Queue
from workflows.models.inbox import ACTIVE

__all__ = ["check_slas"]


def _warn(escalation_id, now: datetime) -> bool:
    with transaction.atomic():
        _, escalation = lock(Escalation(pk=escalation_id))
        if not escalation.is_active or escalation.warned_at is not None:
            return False
        save_change(escalation, escalation.warn(now), SLA)
        live.publish_escalation(escalation.pk, "escalation.warned")
        return True


def _expire(escalation_id, now: datetime) -> str:
    """Move an overdue escalation up its queue's chain, or expire it at the end."""
    with transaction.atomic():
        action, escalation = lock(Escalation(pk=escalation_id))
        if not escalation.is_active or escalation.sla_due_at > now:
            return ""
        parent = escalation.queue.parent
        if parent is not None:
            change = escalation.escalate(now)
            escalation.save(update_fields=change.fields)
            successor = insert_escalation(
                action,
                parent,
                actor=SLA,
                kind=escalation.kind,
                reason=escalation.reason,
                matched=escalation.matched,
                priority=max(1, escalation.priority - 1),
                sla_due_at=now + timedelta(seconds=parent.sla_seconds),
                now=now,
                previous=escalation,
            )
            record(change.verb, SLA, escalation, to=str(successor.pk), to_queue=parent.slug)
            live.publish_escalation(escalation.pk, "escalation.decided")
            return "escalated"
        save_change(escalation, escalation.expire(now), SLA)
        if action.state == ActionState.PENDING_APPROVAL:
            finish(action, ActionState.EXPIRED, "Nobody decided within the approval SLA.", now)
            record_action("action.expired", SLA, action, escalation_id=str(escalation.pk))
        live.publish_escalation(escalation.pk, "escalation.decided")
        return "expired"


def check_slas(*, now=None) -> dict[str, int]:
    """Warn the queues of escalations nearing their SLA, move overdue ones up their chain and
    expire those at its end (each in its own transaction); returns what was done."""
    now = now or timezone.now()
    done = {"warned": 0, "escalated": 0, "expired": 0}
    horizon = Queue.objects.aggregate(longest=Max("warn_before_seconds"))["longest"] or 0
    nearing = (
        Escalation.objects.filter(
            state__in=ACTIVE,
            warned_at__isnull=True,
            sla_due_at__gt=now,
            sla_due_at__lte=now + timedelta(seconds=horizon),
        )
        .select_related("queue")
        .only("pk", "sla_due_at", "queue__warn_before_seconds")
    )
    for escalation in nearing:
        if escalation.sla_due_at - timedelta(seconds=escalation.queue.warn_before_seconds) <= now:
            done["warned"] += _warn(escalation.pk, now)
    overdue = Escalation.objects.filter(state__in=ACTIVE, sla_due_at__lte=now).order_by(
        "sla_due_at"
    )
    for escalation_id in overdue.values_list("pk", flat=True):
        outcome = _expire(escalation_id, now)
        if outcome:
            done[outcome] += 1
    return done
