"""The escalation inbox: queues with SLAs and the escalations waiting in them.

An escalation's state changes only through its transition methods (`Escalation.TRANSITIONS`):
each checks the state it starts from, sets the stamps and returns a `Change` (the ledger verb,
the fields to save, the facts to record). Callers (workflows.inbox) lock the row, decide who
may act, save and record the change in one transaction.
"""

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from guardian.shortcuts import get_objects_for_user

from autonomy.core.history import History
from autonomy.core.principals import is_agent, is_coe
from governance.models import BusinessUnit
from governance.scoping import SUPERVISE, VIEW, ScopedQuerySet

__all__ = [
    "ACTIVE",
    "WORK",
    "WORK_QUEUE",
    "Change",
    "Escalation",
    "EscalationKind",
    "EscalationQuerySet",
    "EscalationState",
    "InvalidTransition",
    "Queue",
    "QueueQuerySet",
    "Transition",
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


# Escalations still waiting for a person.
ACTIVE = (EscalationState.OPEN, EscalationState.CLAIMED)


class EscalationKind(models.TextChoices):
    """Why the escalation waits: an approval policy asked for, or what execution reported."""

    APPROVAL = "approval", "Approval"
    FAILURE = "failure", "Failure"
    RECONCILIATION = "reconciliation", "Reconciliation"


class InvalidTransition(Exception):
    """The escalation is not in a state this transition starts from."""


@dataclass(frozen=True)
class Transition:
    name: str
    sources: tuple[str, ...]
    target: str
    verb: str  # the ledger's verb for it


@dataclass(frozen=True)
class Change:
    """What a transition did: the ledger verb, the fields to save and the facts to record."""

    verb: str
    fields: list[str]
    data: dict = field(default_factory=dict)


S = EscalationState
DECIDED = ["state", "decided_by", "decided_at", "decision_note"]
CLAIM = ["state", "claimed_by", "claimed_at"]


def _username(user) -> str:
    return user.get_username() if user is not None else "someone"


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
        max_length=24,
        choices=EscalationKind.choices,
        default=EscalationKind.APPROVAL,
        help_text="approval, failure or reconciliation",
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

    TRANSITIONS: dict[str, Transition] = {
        t.name: t
        for t in [
            Transition("claim", (S.OPEN,), S.CLAIMED, "escalation.claimed"),
            Transition("unclaim", (S.CLAIMED,), S.OPEN, "escalation.unclaimed"),
            Transition("approve", ACTIVE, S.APPROVED, "escalation.approved"),
            Transition("reject", ACTIVE, S.REJECTED, "escalation.rejected"),
            Transition("reassign", ACTIVE, S.REASSIGNED, "escalation.reassigned"),
            # The SLA ran out and a parent queue takes over: reassigned, by nobody.
            Transition("escalate", ACTIVE, S.REASSIGNED, "escalation.sla_escalated"),
            Transition("expire", ACTIVE, S.EXPIRED, "escalation.expired"),
            Transition("resolve", ACTIVE, S.RESOLVED, "escalation.resolved"),
            Transition("cancel", ACTIVE, S.CANCELLED, "escalation.cancelled"),
        ]
    }

    def __str__(self) -> str:
        return f"escalation {self.pk} ({self.state})"

    @property
    def is_active(self) -> bool:
        """Whether it still waits for a person."""
        return self.state in ACTIVE

    @property
    def is_approval(self) -> bool:
        """Whether it asks for an approval (not a report of what execution met)."""
        return self.kind == EscalationKind.APPROVAL

    def _move(self, name: str) -> Transition:
        """Check that transition `name` starts from the current state, and take it."""
        transition = self.TRANSITIONS[name]
        if self.state not in transition.sources:
            raise InvalidTransition(f"Cannot {name} an escalation that is {self.state}.")
        self.state = transition.target
        return transition

    def _decide(self, name: str, by, at: datetime, decision_note: str, /, **data) -> Change:
        """Close the escalation: who decided (None for the system), when, and the note;
        `data` is what the ledger records of it."""
        transition = self._move(name)
        self.decided_by = by
        self.decided_at = at
        self.decision_note = decision_note
        return Change(transition.verb, list(DECIDED), data)

    def claim(self, by, at: datetime) -> Change:
        """Take it: nobody else decides it meanwhile."""
        transition = self._move("claim")
        self.claimed_by = by
        self.claimed_at = at
        return Change(transition.verb, list(CLAIM))

    def unclaim(self) -> Change:
        """Give it back to its queue; records whom it was released from."""
        released = self.claimed_by
        transition = self._move("unclaim")
        self.claimed_by = None
        self.claimed_at = None
        return Change(transition.verb, list(CLAIM), {"released": _username(released)})

    def approve(self, by, note: str, at: datetime, edited_payload=None) -> Change:
        """Approve its action, as submitted or (`edited_payload`, redacted) as edited."""
        change = self._decide("approve", by, at, note, note=note)
        self.edited_payload = edited_payload
        return Change(change.verb, [*change.fields, "edited_payload"], change.data)

    def reject(self, by, reason: str, at: datetime) -> Change:
        """Refuse its action; the reason is the decision note."""
        return self._decide("reject", by, at, reason, reason=reason)

    def reassign(self, by, note: str, at: datetime) -> Change:
        """Hand it over to another queue or person (the successor is opened by the caller)."""
        return self._decide("reassign", by, at, note, note=note)

    def escalate(self, at: datetime) -> Change:
        """Its SLA ran out: its queue's parent takes over (the caller opens the successor)."""
        return self._decide("escalate", None, at, "SLA expired")

    def expire(self, at: datetime) -> Change:
        """Its SLA ran out at the end of the queue chain: nobody decided it."""
        note = "SLA expired at the end of the queue chain"
        return self._decide("expire", None, at, note, sla_due_at=self.sla_due_at.isoformat())

    def resolve(self, by, summary: str, note: str, at: datetime, **facts) -> Change:
        """Close it with what the person found in the system of record (`facts`)."""
        return self._decide("resolve", by, at, f"{summary}: {note}", **facts, note=note)

    def cancel(self, by, note: str, at: datetime) -> Change:
        """Close it because its agent stopped (`by`: a person, or None for the system)."""
        return self._decide("cancel", by, at, note)

    def warn(self, at: datetime) -> Change:
        """Stamp that its queue was warned of the nearing SLA (once, while it waits)."""
        if not self.is_active or self.warned_at is not None:
            raise InvalidTransition(f"Cannot warn of an escalation that is {self.state}.")
        self.warned_at = at
        return Change("escalation.sla_warned", ["warned_at"], {"due": self.sla_due_at.isoformat()})
