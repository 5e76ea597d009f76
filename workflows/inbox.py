"""The supervisors' inbox: escalations opened, claimed, decided, reassigned and expired.

Each public function is one transaction that writes the ledger and tells the live inbox
after commit. Rows are locked in one order everywhere (agent, then action, then
escalation), so a decision, a suspension and the SLA sweep never deadlock: whoever locks
first wins and the others find the escalation no longer open ("already decided").

People: only those who may work the escalation's queue (workflows.queues) act on it;
anyone else gets `OutOfScope` (a 404). The owner of an agent never approves its requests
nor resolves their unknown outcomes (there is no policy exception for that yet), and an
escalation is handed only to people who may decide it (`assignable_people`). Approving
binds the payload's hash and the policy versions of the decision the approver saw; the
executor checks both.

Reconciliation: an action whose connector call had an unknown outcome waits in
`needs_reconciliation`. Whoever works its escalation checks the system of record and
resolves it: it took effect (succeeded), it did not (failed), or it did not and is to run
again now (queued; the connector gets the same idempotency key, the action's id).
"""

import copy
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone

from agents import services as agent_services
from agents.models import Agent, AgentState
from autonomy.core.principals import COE_GROUP, is_coe
from autonomy.core.statements import insert_together
from governance import ledger
from governance.models import AuditEntry, DecisionRecord
from governance.redaction import fingerprint, redact
from governance.scoping import VIEW, has_bu_perm
from workflows import live, webhooks
from workflows.decisions import decide_action
from workflows.dispatch import enqueue_execution
from workflows.models import (
    ActionRequest,
    ActionState,
    Escalation,
    EscalationState,
    Queue,
    RiskTier,
)
from workflows.queues import may_work, queue_fits, route_queue
from workflows.reasons import plain_reason

__all__ = [
    "ACTIVE",
    "REFERENCE_MAX",
    "AlreadyDecided",
    "ClaimedByOther",
    "InboxError",
    "NotAllowed",
    "OutOfScope",
    "announce",
    "approve",
    "assignable_people",
    "cancel_for_stopped_agent",
    "check_slas",
    "claim",
    "edit_and_approve",
    "escalate_failure",
    "open_escalation",
    "planned_approval",
    "reassign",
    "reconcile_failed",
    "reconcile_retry",
    "reconcile_succeeded",
    "reject",
    "suspend_agent",
    "unclaim",
]

# Escalations still waiting for a person.
ACTIVE = (EscalationState.OPEN, EscalationState.CLAIMED)
PRIORITY = {RiskTier.CRITICAL: 1, RiskTier.HIGH: 1, RiskTier.MEDIUM: 2, RiskTier.LOW: 3}
INBOX = ledger.Actor.system("inbox")
SLA = ledger.Actor.system("sla")


class InboxError(Exception):
    """A refused inbox operation; nothing was changed. `fields` names the bad inputs."""

    code = "invalid"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotAllowed(InboxError):
    """The person may see the escalation but not do this to it."""

    code = "not_allowed"


class OutOfScope(InboxError):
    """The escalation is not in a queue the person may work (answered as a 404)."""

    code = "not_found"


class AlreadyDecided(InboxError):
    """Someone (or the SLA) got there first."""

    code = "already_decided"


class ClaimedByOther(InboxError):
    """Another person has claimed the escalation."""

    code = "claimed"


def _name(user) -> str:
    return user.get_username() if user is not None else "someone"


def _priority(action: ActionRequest) -> int:
    return PRIORITY.get(action.action_type.risk_tier, 2)


def _lock(escalation: Escalation) -> tuple[ActionRequest, Escalation]:
    """Lock the escalation's action, then the escalation (the one lock order), fresh."""
    action_id = Escalation.objects.values_list("action_id", flat=True).get(pk=escalation.pk)
    action = ActionRequest.objects.select_for_update(of=("self",)).get(pk=action_id)
    locked = Escalation.objects.select_for_update(of=("self",)).get(pk=escalation.pk)
    return action, locked


def _record(verb: str, actor, escalation: Escalation, **data) -> None:
    ledger.record(
        verb,
        ledger.Actor.of(actor),
        escalation,
        business_unit_id=escalation.business_unit_id,
        data={"action_id": str(escalation.action_id), "queue": escalation.queue.slug, **data},
    )


def _record_action(verb: str, actor, action: ActionRequest, **data) -> None:
    ledger.record(
        verb,
        ledger.Actor.of(actor),
        **action.ledger_fields(),
        data=data,
    )


def _new(
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
            "assigned_to": _name(assigned_to) if assigned_to else None,
            **data,
        },
    )
    return escalation, entry


def _open(action: ActionRequest, queue: Queue, **fields) -> Escalation:
    escalation, entry = _new(action, queue, **fields)
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
    gateway, which inserts them with the action in one statement (autonomy.core.statements) and then
    calls announce()."""
    now = now or timezone.now()
    queue = route_queue(action, route)
    sla_seconds = decision_record.sla_seconds or queue.sla_seconds
    return _new(
        action,
        queue,
        actor=INBOX,
        kind="approval",
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
def escalate_failure(action: ActionRequest, kind: str, reason: str, *, now=None) -> Escalation:
    """Put an action whose execution failed ("failure") or whose outcome is unknown
    ("reconciliation") in front of people: its action type's queue, else its unit's."""
    now = now or timezone.now()
    queue = route_queue(action, "")
    return _open(
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


def _require_scope(user, escalation: Escalation) -> None:
    if not may_work(user, escalation.queue):
        raise OutOfScope("No such escalation in your queues.")


def _require_open(user, escalation: Escalation) -> None:
    """The escalation still waits for a decision, and not someone else's."""
    if escalation.state not in ACTIVE:
        who = f" by {_name(escalation.decided_by)}" if escalation.decided_by_id else ""
        raise AlreadyDecided(f"Already decided: {escalation.get_state_display().lower()}{who}.")
    if escalation.state == EscalationState.CLAIMED and escalation.claimed_by_id != user.pk:
        raise ClaimedByOther(f"{_name(escalation.claimed_by)} has claimed this escalation.")
    if escalation.assigned_to_id and escalation.assigned_to_id != user.pk:
        raise NotAllowed(f"This escalation is assigned to {_name(escalation.assigned_to)}.")


def _require_pending(action: ActionRequest, escalation: Escalation) -> None:
    if escalation.kind != "approval":
        raise InboxError(
            f"This escalation reports a {escalation.kind}: there is nothing to approve. "
            "Reject it to close it (the action keeps its state), or reassign it."
        )
    if action.state != ActionState.PENDING_APPROVAL:
        raise AlreadyDecided(
            f"The action is no longer waiting for approval: it is "
            f"{action.get_state_display().lower()}."
        )


def _require_agent_active(action: ActionRequest) -> None:
    """Only an active agent's requests are approved: suspending or retiring an agent cancels
    them (see `cancel_for_stopped_agent`), and this refuses any that slipped past."""
    agent = action.agent
    if agent.state != AgentState.ACTIVE:
        raise NotAllowed(
            f"Agent {agent.slug} is {agent.get_state_display().lower()}: its requests cannot "
            "be approved. Reject this one to close it."
        )


def _require_not_owner(user, action: ActionRequest, what: str = "approve its requests") -> None:
    agent = action.agent
    if agent.owner_id == user.pk:
        raise NotAllowed(f"You own agent {agent.slug}: another supervisor must {what}.")


@transaction.atomic
def claim(user, escalation: Escalation, *, now=None) -> Escalation:
    """Take an open escalation so that nobody else decides it meanwhile (idempotent)."""
    _, escalation = _lock(escalation)
    _require_scope(user, escalation)
    if escalation.state == EscalationState.CLAIMED and escalation.claimed_by_id == user.pk:
        return escalation
    _require_open(user, escalation)
    escalation.state = EscalationState.CLAIMED
    escalation.claimed_by = user
    escalation.claimed_at = now or timezone.now()
    escalation.save(update_fields=["state", "claimed_by", "claimed_at"])
    _record("escalation.claimed", user, escalation)
    live.publish_escalation(escalation.pk, "escalation.claimed")
    return escalation


@transaction.atomic
def unclaim(user, escalation: Escalation) -> Escalation:
    """Give a claimed escalation back to its queue (the claimer, or COE staff for anyone)."""
    _, escalation = _lock(escalation)
    _require_scope(user, escalation)
    if escalation.state != EscalationState.CLAIMED:
        if escalation.state == EscalationState.OPEN:
            return escalation
        _require_open(user, escalation)
    if escalation.claimed_by_id != user.pk and not is_coe(user):
        raise ClaimedByOther(f"{_name(escalation.claimed_by)} has claimed this escalation.")
    released = escalation.claimed_by
    escalation.state = EscalationState.OPEN
    escalation.claimed_by = None
    escalation.claimed_at = None
    escalation.save(update_fields=["state", "claimed_by", "claimed_at"])
    _record("escalation.unclaimed", user, escalation, released=_name(released))
    live.publish_escalation(escalation.pk, "escalation.claimed")
    return escalation


def _approve(
    user,
    action: ActionRequest,
    escalation: Escalation,
    *,
    note: str,
    now: datetime,
    policy_version_ids: list,
    **data,
) -> Escalation:
    """Bind what the approver saw (payload hash, policy versions) and queue the action."""
    action.approved_payload_hash = action.payload_hash
    action.approved_policy_version_ids = list(policy_version_ids)
    action.approved_by = user
    action.approved_at = now
    action.state = ActionState.QUEUED
    action.queued_at = now
    action.save(
        update_fields=[
            "payload",
            "payload_hash",
            "approved_payload_hash",
            "approved_policy_version_ids",
            "approved_by",
            "approved_at",
            "state",
            "queued_at",
        ]
    )
    escalation.state = EscalationState.APPROVED
    escalation.decided_by = user
    escalation.decided_at = now
    escalation.decision_note = note
    escalation.save(
        update_fields=["state", "decided_by", "decided_at", "decision_note", "edited_payload"]
    )
    facts = {
        "payload_hash": action.payload_hash,
        "policy_version_ids": action.approved_policy_version_ids,
        "note": note,
        **data,
    }
    _record("escalation.approved", user, escalation, **facts)
    _record_action("action.approved", user, action, escalation_id=str(escalation.pk), **facts)
    enqueue_execution(action.pk)
    live.publish_escalation(escalation.pk, "escalation.decided")
    live.publish_activity(action.pk)
    return escalation


@transaction.atomic
def approve(user, escalation: Escalation, note: str = "", *, now=None) -> Escalation:
    """Approve the action as it was submitted and queue it for execution."""
    action, escalation = _lock(escalation)
    _require_scope(user, escalation)
    _require_open(user, escalation)
    _require_pending(action, escalation)
    _require_agent_active(action)
    _require_not_owner(user, action)
    versions = action.decision.policy_version_ids if action.decision else action.policy_version_ids
    return _approve(
        user,
        action,
        escalation,
        note=(note or "").strip(),
        now=now or timezone.now(),
        policy_version_ids=versions,
        edited=False,
    )


def _restore_sensitive(edited: dict, original: dict, sensitive: list[str]) -> dict:
    """People see sensitive fields as keyed hashes; a field left as its hash in an edit keeps
    its original value."""
    shown = redact(original, sensitive)
    result = copy.deepcopy(edited)
    for path in sensitive:
        *parents, last = path.split(".")
        nodes = [result, shown, original]
        for part in parents:
            nodes = [node.get(part) if isinstance(node, dict) else None for node in nodes]
        mine, hashed, clear = nodes
        if not all(isinstance(node, dict) for node in nodes) or last not in clear:
            continue
        if last in mine and last in hashed and mine[last] == hashed[last] != clear[last]:
            mine[last] = clear[last]
    return result


@transaction.atomic
def edit_and_approve(
    user, escalation: Escalation, payload, note: str = "", *, now=None
) -> Escalation:
    """Approve an edited payload: it is checked against the action type's schema and decided
    again by policy (not counted against limits); a denial refuses the edit with the
    reasons, otherwise the approval binds the edited payload."""
    now = now or timezone.now()
    action, escalation = _lock(escalation)
    _require_scope(user, escalation)
    _require_open(user, escalation)
    _require_pending(action, escalation)
    _require_agent_active(action)
    _require_not_owner(user, action)
    if not isinstance(payload, dict):
        raise InboxError(
            "The edited payload must be a JSON object.",
            {"payload": ["The payload must be a JSON object."]},
        )
    sensitive = list(action.action_type.sensitive_fields or [])
    payload = _restore_sensitive(payload, action.payload, sensitive)
    errors = action.action_type.payload_errors(payload)
    if errors:
        raise InboxError("The edited payload does not match the action's schema.", errors)
    outcome = decide_action(
        action.agent,
        action.action_type.name,
        payload,
        actor=user,
        source=DecisionRecord.Source.GATEWAY,
        count=False,
        now=now,
    )
    if outcome.record.effect == "deny":
        reasons = list(outcome.record.reasons) or ["Denied by policy."]
        raise InboxError(
            "Policy denies the edited payload: " + "; ".join(reasons), {"payload": reasons}
        )
    original_hash = action.payload_hash
    action.payload = payload
    action.payload_hash = fingerprint(payload)
    escalation.edited_payload = redact(payload, sensitive)
    return _approve(
        user,
        action,
        escalation,
        note=(note or "").strip(),
        now=now,
        policy_version_ids=outcome.record.policy_version_ids,
        edited=True,
        original_payload_hash=original_hash,
        redecision_id=str(outcome.record.pk),
        redecision_effect=outcome.record.effect,
    )


def _finish(action: ActionRequest, state: str, error: str, now: datetime, *, result=None) -> None:
    """End the action (rejected, expired, cancelled, or settled by a reconciliation); the
    agent's callback and the activity feed hear of it after commit."""
    action.state = state
    action.completed_at = now
    action.error = error
    fields = ["state", "completed_at", "error"]
    if result is not None:
        action.result = result
        fields.append("result")
    action.save(update_fields=fields)
    webhooks.schedule(action, now=now)
    live.publish_activity(action.pk)


@transaction.atomic
def reject(user, escalation: Escalation, reason: str, *, now=None) -> Escalation:
    """Refuse the action with a reason (required: the agent and the ledger keep it). An
    escalation about a failed action is closed; the action keeps its state."""
    reason = (reason or "").strip()
    if not reason:
        raise InboxError(
            "Give a reason to reject; the agent and the ledger keep it.",
            {"reason": ["A reason is required."]},
        )
    now = now or timezone.now()
    action, escalation = _lock(escalation)
    _require_scope(user, escalation)
    _require_open(user, escalation)
    escalation.state = EscalationState.REJECTED
    escalation.decided_by = user
    escalation.decided_at = now
    escalation.decision_note = reason
    escalation.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
    _record("escalation.rejected", user, escalation, reason=reason)
    if action.state == ActionState.PENDING_APPROVAL:
        _finish(action, ActionState.REJECTED, f"Rejected by {_name(user)}: {reason}", now)
        _record_action(
            "action.rejected", user, action, escalation_id=str(escalation.pk), reason=reason
        )
    live.publish_escalation(escalation.pk, "escalation.decided")
    return escalation


def _assignee_problem(person, action: ActionRequest, escalation: Escalation) -> str:
    """Why `person` may not be handed the escalation ("" if they may): they must be active,
    work its queue, be COE staff or a member of its business unit, not own its agent and
    not hold it already."""
    if person.pk == action.agent.owner_id:
        return f"{_name(person)} owns agent {action.agent.slug} and may not decide its requests."
    if person.pk == escalation.assigned_to_id:
        return f"This escalation is already assigned to {_name(person)}."
    if not may_work(person, escalation.queue) or not (
        is_coe(person) or has_bu_perm(person, VIEW, escalation.business_unit_id)
    ):
        return f"{_name(person)} may not decide escalations of the queue {escalation.queue.name}."
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
    action, escalation = _lock(escalation)
    _require_scope(user, escalation)
    _require_open(user, escalation)
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
    note = (note or "").strip()
    escalation.state = EscalationState.REASSIGNED
    escalation.decided_by = user
    escalation.decided_at = now
    escalation.decision_note = note
    escalation.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
    successor = _open(
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
    _record(
        "escalation.reassigned",
        user,
        escalation,
        to=str(successor.pk),
        to_queue=target.slug,
        to_person=_name(person) if person is not None else None,
        note=note,
    )
    live.publish_escalation(escalation.pk, "escalation.decided")
    return successor


# How long a reference in a system of record may be (an order number, a ticket id...).
REFERENCE_MAX = 200


def _required_note(note: str, message: str) -> str:
    note = (note or "").strip()
    if not note:
        raise InboxError(message, {"note": ["A note is required."]})
    return note


def _reconcilable(user, escalation: Escalation) -> tuple[ActionRequest, Escalation]:
    """Lock the action and the escalation and check that `user` may resolve it now: in
    scope, still open and theirs to decide, a reconciliation whose action still waits for
    it, and not an action of an agent they own."""
    action, escalation = _lock(escalation)
    _require_scope(user, escalation)
    _require_open(user, escalation)
    if escalation.kind != "reconciliation":
        raise InboxError(
            f"This escalation reports a {escalation.kind}, not an unknown outcome: there is "
            "nothing to reconcile."
        )
    if action.state != ActionState.NEEDS_RECONCILIATION:
        raise AlreadyDecided(
            f"Already resolved: the action is {action.get_state_display().lower()}."
        )
    _require_not_owner(user, action, "resolve its unknown outcomes")
    return action, escalation


def _resolve(
    user,
    action: ActionRequest,
    escalation: Escalation,
    *,
    outcome: str,
    summary: str,
    note: str,
    now: datetime,
    **data,
) -> Escalation:
    """Close the escalation as resolved and record what the person found, on it and on
    the action (whose new state the caller has set)."""
    escalation.state = EscalationState.RESOLVED
    escalation.decided_by = user
    escalation.decided_at = now
    escalation.decision_note = f"{summary}: {note}"
    escalation.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
    facts = {"outcome": outcome, "note": note, **data}
    _record("escalation.resolved", user, escalation, **facts)
    _record_action(
        "action.reconciled",
        user,
        action,
        escalation_id=str(escalation.pk),
        state=action.state,
        **facts,
    )
    live.publish_escalation(escalation.pk, "escalation.decided")
    return escalation


@transaction.atomic
def reconcile_succeeded(
    user, escalation: Escalation, note: str, reference: str = "", *, now=None
) -> Escalation:
    """The person found the change in the system of record: the action succeeded (its
    result names who checked and the record's reference, if given) and the agent is called
    back. The note (what was checked) is required."""
    note = _required_note(note, "Say what you checked in the system of record.")
    reference = (reference or "").strip()
    if len(reference) > REFERENCE_MAX:
        raise InboxError(
            "The reference is too long.",
            {"reference": [f"At most {REFERENCE_MAX} characters."]},
        )
    now = now or timezone.now()
    action, escalation = _reconcilable(user, escalation)
    result = {"reconciled_by": _name(user), "reference": reference}
    _finish(action, ActionState.SUCCEEDED, "", now, result=result)
    summary = f"It took effect (reference {reference})" if reference else "It took effect"
    return _resolve(
        user,
        action,
        escalation,
        outcome="succeeded",
        summary=summary,
        note=note,
        now=now,
        reference=reference,
    )


@transaction.atomic
def reconcile_failed(user, escalation: Escalation, note: str, *, now=None) -> Escalation:
    """The person found no trace of the change and it is not to be made: the action failed
    with the note as its reason (required: the agent is called back with it)."""
    note = _required_note(note, "Say what you checked; the agent is told why the action failed.")
    now = now or timezone.now()
    action, escalation = _reconcilable(user, escalation)
    error = f"Did not take effect (checked by {_name(user)}): {note}"
    _finish(action, ActionState.FAILED, error, now)
    return _resolve(
        user,
        action,
        escalation,
        outcome="failed",
        summary="It did not take effect; marked failed",
        note=note,
        now=now,
    )


@transaction.atomic
def reconcile_retry(user, escalation: Escalation, note: str, *, now=None) -> Escalation:
    """The person found no trace of the change and wants it made: the action is queued and
    executed again after commit, with the same idempotency key (its id), so a system of
    record that did get the first call can drop the repeat. The note is required; an agent
    that is no longer active cannot run again (mark the action failed instead)."""
    note = _required_note(note, "Say what you checked in the system of record.")
    now = now or timezone.now()
    action, escalation = _reconcilable(user, escalation)
    agent = action.agent
    if agent.state != AgentState.ACTIVE:
        raise InboxError(
            f"Agent {agent.slug} is {agent.get_state_display().lower()}: its action cannot run "
            "again. Mark it failed instead.",
            {"outcome": ["The agent is not active."]},
        )
    action.state = ActionState.QUEUED
    action.queued_at = now
    action.next_attempt_at = None
    action.completed_at = None
    action.error = ""
    action.save(update_fields=["state", "queued_at", "next_attempt_at", "completed_at", "error"])
    enqueue_execution(action.pk)
    live.publish_activity(action.pk)
    return _resolve(
        user,
        action,
        escalation,
        outcome="retry",
        summary="It did not take effect; queued to run again",
        note=note,
        now=now,
        idempotency_key=str(action.pk),
    )


@transaction.atomic
def suspend_agent(user, agent: Agent, note: str, *, now=None) -> int:
    """Suspend the agent (agents.services decides who may); its queued and pending actions
    and their open escalations are cancelled in the same transaction, each recorded (by
    `cancel_for_stopped_agent`, as on every path that suspends an agent). Returns how many
    actions were cancelled."""
    try:
        agent = agent_services.transition(user, agent, "suspend", note, now=now)
    except agent_services.NotAllowed as exc:
        raise NotAllowed(str(exc)) from exc
    except agent_services.InvalidTransition as exc:
        raise InboxError(str(exc), {"note": [str(exc)]}) from exc
    return agent.actions_cancelled


# What each transition that stops an agent did to it, in the words of the records.
_STOPPED_AS = {"suspend": "suspended", "retire": "retired"}


def cancel_for_stopped_agent(*, agent: Agent, actor, transition: str, note: str, now) -> int:
    """Handler of agents.hooks.agent_stopped (registered in WorkflowsConfig.ready()): the
    agent was just suspended or retired, in this transaction, and its row is locked. Cancel
    its queued and pending actions and their open escalations, each recorded in the ledger
    by `actor` (a person, or the system for an automatic suspension); returns how many
    actions were cancelled. Locks actions, then escalations: the inbox's one lock order."""
    now = now or timezone.now()
    done = _STOPPED_AS.get(transition, "stopped")
    person = None if isinstance(actor, ledger.Actor) else actor
    note = (note or "").strip()
    why = f": {note}" if note else "."
    by = f" by {_name(person)}" if person is not None else " automatically"
    reason = f"agent {done}"
    actions = list(
        ActionRequest.objects.select_for_update(of=("self",))
        .filter(agent=agent, state__in=[ActionState.QUEUED, ActionState.PENDING_APPROVAL])
        .order_by("pk")
    )
    if not actions:
        return 0
    escalations = list(
        Escalation.objects.select_for_update(of=("self",))
        .filter(action__in=[a.pk for a in actions], state__in=ACTIVE)
        .order_by("pk")
    )
    for escalation in escalations:
        escalation.state = EscalationState.CANCELLED
        escalation.decided_by = person
        escalation.decided_at = now
        escalation.decision_note = f"Agent {done}{why}"
        escalation.save(update_fields=["state", "decided_by", "decided_at", "decision_note"])
        _record("escalation.cancelled", actor, escalation, reason=reason, note=note)
        live.publish_escalation(escalation.pk, "escalation.decided")
    for action in actions:
        before = action.state
        action.agent = agent
        _finish(action, ActionState.CANCELLED, f"Agent {done}{by}{why}", now)
        _record_action("action.cancelled", actor, action, reason=reason, was=before)
    return len(actions)


def _warn(escalation_id, now: datetime) -> bool:
    with transaction.atomic():
        _, escalation = _lock(Escalation(pk=escalation_id))
        if escalation.state not in ACTIVE or escalation.warned_at is not None:
            return False
        escalation.warned_at = now
        escalation.save(update_fields=["warned_at"])
        _record("escalation.sla_warned", SLA, escalation, due=escalation.sla_due_at.isoformat())
        live.publish_escalation(escalation.pk, "escalation.warned")
        return True


def _expire(escalation_id, now: datetime) -> str:
    """Move an overdue escalation up its queue's chain, or expire it at the end."""
    with transaction.atomic():
        action, escalation = _lock(Escalation(pk=escalation_id))
        if escalation.state not in ACTIVE or escalation.sla_due_at > now:
            return ""
        parent = escalation.queue.parent
        escalation.decided_at = now
        if parent is not None:
            escalation.state = EscalationState.REASSIGNED
            escalation.decision_note = "SLA expired"
            escalation.save(update_fields=["state", "decided_at", "decision_note"])
            successor = _open(
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
            moved = {"to": str(successor.pk), "to_queue": parent.slug}
            _record("escalation.sla_escalated", SLA, escalation, **moved)
            live.publish_escalation(escalation.pk, "escalation.decided")
            return "escalated"
        escalation.state = EscalationState.EXPIRED
        escalation.decision_note = "SLA expired at the end of the queue chain"
        escalation.save(update_fields=["state", "decided_at", "decision_note"])
        _record("escalation.expired", SLA, escalation, sla_due_at=escalation.sla_due_at.isoformat())
        if action.state == ActionState.PENDING_APPROVAL:
            _finish(action, ActionState.EXPIRED, "Nobody decided within the approval SLA.", now)
            _record_action("action.expired", SLA, action, escalation_id=str(escalation.pk))
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
