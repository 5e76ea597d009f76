"""Action requests: what an agent asked to do through the gateway, and what became of it."""

import uuid

from django.conf import settings
from django.db import models

from governance.scoping import ScopedQuerySet

__all__ = ["ActionRequest", "ActionRequestQuerySet", "ActionState", "WebhookDelivery"]


class ActionState(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Pending approval"
    QUEUED = "queued", "Queued"
    EXECUTING = "executing", "Executing"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    NEEDS_RECONCILIATION = "needs_reconciliation", "Needs reconciliation"
    DENIED = "denied", "Denied"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Expired"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATES = frozenset(
    {
        ActionState.SUCCEEDED,
        ActionState.FAILED,
        ActionState.DENIED,
        ActionState.REJECTED,
        ActionState.EXPIRED,
        ActionState.CANCELLED,
    }
)


class ActionRequestQuerySet(ScopedQuerySet):
    """Actions by their business unit; an agent's are those it asked for."""


class ActionRequest(models.Model):
    """One governed action. `(agent, idempotency_key)` is unique; the first response is kept
    for replays. The payload is kept in clear only here, for the connector; everything
    shown to people and agents redacts the action type's sensitive fields."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No single-column indexes where a composite one below leads with the column: every
    # index costs each insert and each change of state (an update of an indexed column).
    agent = models.ForeignKey(
        "agents.Agent", on_delete=models.PROTECT, related_name="actions", db_index=False
    )
    business_unit = models.ForeignKey(
        "governance.BusinessUnit", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    action_type = models.ForeignKey(
        "workflows.ActionType", on_delete=models.PROTECT, related_name="requests"
    )
    idempotency_key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64, help_text="Fingerprint of the request body")
    payload = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(max_length=64)
    reason = models.TextField(blank=True)
    data_used = models.JSONField(default=list, blank=True)
    task_ref = models.CharField(max_length=100, blank=True)
    callback_url = models.URLField(max_length=500, blank=True)
    decision = models.OneToOneField(
        "governance.DecisionRecord",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="action_request",
    )
    policy_version_ids = models.JSONField(default=list, blank=True)
    shadow = models.BooleanField(default=False)
    state = models.CharField(max_length=24, choices=ActionState.choices)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    approved_payload_hash = models.CharField(max_length=64, blank=True)
    approved_policy_version_ids = models.JSONField(default=list, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(db_index=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = ActionRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["agent", "idempotency_key"], name="unique_agent_idempotency_key"
            )
        ]
        indexes = [
            models.Index(fields=["state", "queued_at"], name="action_state_queued_idx"),
            models.Index(fields=["agent", "created_at"], name="action_agent_time_idx"),
            models.Index(fields=["business_unit", "created_at"], name="action_bu_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action_type_id} by agent {self.agent_id}: {self.state}"

    def ledger_fields(self) -> dict:
        """How a ledger entry about this action names it (object, label, business unit);
        its agent and action type must be at hand."""
        return {
            "object_type": self._meta.label_lower,
            "object_id": str(self.pk),
            "object_repr": f"{self.agent.slug} {self.action_type.name}",
            "business_unit_id": self.business_unit_id,
        }


class WebhookDelivery(models.Model):
    """One signed callback to an agent's callback URL about a terminal state, and its fate."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        RETRYING = "retrying", "Retrying"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.ForeignKey(ActionRequest, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    event = models.CharField(max_length=64)
    body = models.JSONField(default=dict)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.event} -> {self.url}: {self.state}"
