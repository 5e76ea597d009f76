"""Action requests: what an agent asked to do through the gateway, and what became of it.

An action's state changes only along ACTION_TRANSITIONS: each of ActionRequest's transition
methods checks the state it starts from (InvalidActionTransition otherwise), sets the new
state and its stamps, and returns the verb of the ledger entry that records it. The caller
saves the row and writes the entry.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import models

from governance.scoping import ScopedQuerySet

__all__ = [
    "ACTION_TRANSITIONS",
    "CLAIM",
    "NEW",
    "ActionRequest",
    "ActionRequestQuerySet",
    "ActionState",
    "ActionTransition",
    "InvalidActionTransition",
    "WebhookDelivery",
]


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


# The state of an action the gateway has built and not yet decided.
NEW = ""


@dataclass(frozen=True, slots=True)
class ActionTransition:
    """A change of an action's state: from which states, to which, and the verb of the
    ledger entry that records it."""

    name: str
    sources: frozenset[str]
    target: str
    verb: str


class InvalidActionTransition(Exception):
    """The action is not in a state this transition starts from."""


_S = ActionState
ACTION_TRANSITIONS: dict[str, ActionTransition] = {
    t.name: t
    for t in [
        # The gateway's decision on a new action.
        ActionTransition("allow", frozenset({NEW}), _S.QUEUED, "action.queued"),
        ActionTransition(
            "hold_for_approval", frozenset({NEW}), _S.PENDING_APPROVAL, "action.pending_approval"
        ),
        ActionTransition("deny", frozenset({NEW}), _S.DENIED, "action.denied"),
        # A person's decision, or nobody's within the approval SLA (workflows.inbox).
        ActionTransition("approve", frozenset({_S.PENDING_APPROVAL}), _S.QUEUED, "action.approved"),
        ActionTransition(
            "reject", frozenset({_S.PENDING_APPROVAL}), _S.REJECTED, "action.rejected"
        ),
        ActionTransition("expire", frozenset({_S.PENDING_APPROVAL}), _S.EXPIRED, "action.expired"),
        # Execution (workflows.execution, workflows.reads).
        ActionTransition("claim", frozenset({_S.QUEUED}), _S.EXECUTING, "action.claimed"),
        ActionTransition(
            "succeed",
            frozenset({_S.EXECUTING, _S.NEEDS_RECONCILIATION}),
            _S.SUCCEEDED,
            "action.executed",
        ),
        ActionTransition(
            "fail", frozenset({_S.EXECUTING, _S.NEEDS_RECONCILIATION}), _S.FAILED, "action.failed"
        ),
        ActionTransition(
            "retry_later", frozenset({_S.EXECUTING}), _S.QUEUED, "action.retry_scheduled"
        ),
        ActionTransition("requeue", frozenset({_S.EXECUTING}), _S.QUEUED, "action.requeued"),
        ActionTransition(
            "lose_track",
            frozenset({_S.EXECUTING}),
            _S.NEEDS_RECONCILIATION,
            "action.needs_reconciliation",
        ),
        ActionTransition(
            "run_again", frozenset({_S.NEEDS_RECONCILIATION}), _S.QUEUED, "action.reconciled"
        ),
        ActionTransition(
            "cancel",
            frozenset({_S.PENDING_APPROVAL, _S.QUEUED, _S.EXECUTING}),
            _S.CANCELLED,
            "action.cancelled",
        ),
    ]
}
# The claim is one UPDATE over many rows (workflows.execution): its SQL moves CLAIM.sources
# to CLAIM.target.
CLAIM = ACTION_TRANSITIONS["claim"]
# The transition that ends an action in each final state (and in needs_reconciliation).
_ENDING = {
    t.target: t
    for t in ACTION_TRANSITIONS.values()
    if t.target not in (_S.QUEUED, _S.PENDING_APPROVAL, _S.EXECUTING)
}
_BY_EFFECT = {"allow": "allow", "require_approval": "hold_for_approval", "deny": "deny"}


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

    def _move(self, name: str) -> ActionTransition:
        transition = ACTION_TRANSITIONS[name]
        if self.state not in transition.sources:
            raise InvalidActionTransition(
                f"Cannot {name.replace('_', ' ')} an action that is {self.state or 'new'}."
            )
        self.state = transition.target
        return transition

    def take_decision(self, effect: str, now: datetime) -> str:
        """A new action as its decision says: queued (allowed), pending approval, or denied
        (completed)."""
        transition = self._move(_BY_EFFECT[str(effect)])
        if transition.target == ActionState.QUEUED:
            self.queued_at = now
        elif transition.target == ActionState.DENIED:
            self.completed_at = now
        return transition.verb

    def approve(self, by, now: datetime, policy_version_ids) -> str:
        """Approved by a person: bound to what they saw (its payload hash and the policy
        versions) and queued."""
        self.approved_payload_hash = self.payload_hash
        self.approved_policy_version_ids = list(policy_version_ids)
        self.approved_by, self.approved_at, self.queued_at = by, now, now
        return self._move("approve").verb

    def run_again(self, now: datetime) -> str:
        """Queued once more: a person found in the system of record that it took no effect."""
        self.queued_at, self.next_attempt_at, self.completed_at, self.error = now, None, None, ""
        return self._move("run_again").verb

    def retry_later(self, error: str, due: datetime) -> str:
        """Back to the queue after a failed attempt, due again at `due`."""
        self.error, self.next_attempt_at = error, due
        return self._move("retry_later").verb

    def requeue(self) -> str:
        """Back to the queue: its worker stopped before calling the connector."""
        return self._move("requeue").verb

    def end(self, state: str, error: str, now: datetime) -> str:
        """The action's outcome: `state` is final (or needs_reconciliation), completed now."""
        if state not in _ENDING:
            raise InvalidActionTransition(f"{state!r} does not end an action.")
        transition = self._move(_ENDING[state].name)
        self.error, self.completed_at, self.next_attempt_at = error, now, None
        return transition.verb

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
