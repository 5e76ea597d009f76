"""The escalation inbox: queues with SLAs and the escalations waiting in them."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.shortcuts import get_objects_for_user

from governance.history import History
from governance.models import BusinessUnit
from governance.scoping import (
    SUPERVISE,
    VIEW,
    ScopedQuerySet,
    is_agent,
    is_coe,
)

__all__ = [
    "WORK",
    "WORK_QUEUE",
    "Escalation",
    "EscalationQuerySet",
    "EscalationState",
    "Queue",
    "QueueQuerySet",
]

WORK = "work"  # the action of claiming and deciding a queue's escalations
WORK_QUEUE = "workflows.work_queue"  # guardian's object permission that grants it


class QueueQuerySet(ScopedQuerySet):
    """Who may work a queue: COE staff; supervisors of the queue's business unit; and people
    (directly or through a group) holding `work_queue` on the queue, who, for a business
    unit's queue, must also be members of that unit. COE queues: COE staff and holders of
    `work_queue` only. A person reads the queues they may work and those of the business
    units they belong to; agents and anonymous people none."""

    def for_person(self, user, action: str = VIEW):
        if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
            return self.none()
        if is_coe(user):
            return self
        if action == WORK:
            return self._workable(user)
        return self.filter(
            Q(pk__in=self.model.objects.for_person(user, WORK).values("pk"))
            | Q(business_unit__in=BusinessUnit.objects.for_person(user, action).values("pk"))
        )

    def _workable(self, user):
        supervised = BusinessUnit.objects.for_person(user, SUPERVISE).values("pk")
        member_of = BusinessUnit.objects.for_person(user, VIEW).values("pk")
        granted = get_objects_for_user(
            user, WORK_QUEUE, klass=self.model, accept_global_perms=False, with_superuser=False
        ).filter(Q(business_unit__isnull=True) | Q(business_unit__in=member_of))
        return self.filter(
            Q(business_unit__in=supervised) | Q(pk__in=granted.values("pk"))
        ).distinct()


class EscalationQuerySet(ScopedQuerySet):
    """Every escalation (any state) in the queues a person may work; anything else is a 404."""

    agent_path = "action__agent"

    def for_person(self, user, action: str = WORK):
        return self.filter(queue__in=Queue.objects.for_person(user, WORK).values("pk"))


class Queue(models.Model):
    """Where escalations wait for people: a business unit's queue or a COE queue (no unit).
    At SLA expiry an escalation moves to `parent` (e.g. the BU queue's COE queue)."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    business_unit = models.ForeignKey(
        "governance.BusinessUnit",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="queues",
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    sla_seconds = models.PositiveIntegerField(default=4 * 3600)
    warn_before_seconds = models.PositiveIntegerField(default=900)
    history = History()

    objects = QueueQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [("work_queue", "Claim and decide the queue's escalations")]

    def __str__(self) -> str:
        return self.name


class EscalationState(models.TextChoices):
    OPEN = "open", "Open"
    CLAIMED = "claimed", "Claimed"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    REASSIGNED = "reassigned", "Reassigned"
    CANCELLED = "cancelled", "Cancelled"
    RESOLVED = "resolved", "Resolved"


class Escalation(models.Model):
    """An action waiting for a human decision, with why it was escalated and its SLA."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.ForeignKey(
        "workflows.ActionRequest", on_delete=models.PROTECT, related_name="escalations"
    )
    # Indexed by escalation_queue_idx and escalation_sla_idx (Meta), which lead with them.
    queue = models.ForeignKey(
        Queue, on_delete=models.PROTECT, related_name="escalations", db_index=False
    )
    business_unit = models.ForeignKey(
        "governance.BusinessUnit", on_delete=models.PROTECT, related_name="+"
    )
    state = models.CharField(
        max_length=12,
        choices=EscalationState.choices,
        default=EscalationState.OPEN,
    )
    kind = models.CharField(
        max_length=24, default="approval", help_text="approval, failure or reconciliation"
    )
    priority = models.PositiveSmallIntegerField(default=2, help_text="1 highest, 3 lowest")
    reason = models.TextField()
    matched = models.JSONField(default=list, blank=True)
    sla_due_at = models.DateTimeField()
    warned_at = models.DateTimeField(null=True, blank=True)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    edited_payload = models.JSONField(null=True, blank=True)
    previous = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="next",
        help_text="The escalation this one took over from (reassignment or SLA expiry)",
    )
    created_at = models.DateTimeField(db_index=True)

    objects = EscalationQuerySet.as_manager()

    class Meta:
        ordering = ["priority", "sla_due_at"]
        indexes = [
            models.Index(fields=["queue", "state", "sla_due_at"], name="escalation_queue_idx"),
            models.Index(fields=["state", "sla_due_at"], name="escalation_sla_idx"),
        ]

    def __str__(self) -> str:
        return f"escalation {self.pk} ({self.state})"
