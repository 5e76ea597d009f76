"""The escalation inbox: queues with SLAs and the escalations waiting in them."""

import uuid

from django.conf import settings
from django.db import models

from autonomy.core.history import History

__all__ = ["Escalation", "EscalationState", "Queue"]


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

    class Meta:
        ordering = ["priority", "sla_due_at"]
        indexes = [
            models.Index(fields=["queue", "state", "sla_due_at"], name="escalation_queue_idx"),
            models.Index(fields=["state", "sla_due_at"], name="escalation_sla_idx"),
        ]

    def __str__(self) -> str:
        return f"escalation {self.pk} ({self.state})"
