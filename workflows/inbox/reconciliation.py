"""Resolving unknown outcomes: an action whose connector call had an unknown outcome waits
in `needs_reconciliation`. Whoever works its escalation checks the system of record and
resolves it: it took effect (succeeded), it did not (failed), or it did not and is to run
again now (queued; the connector gets the same idempotency key, the action's id). The
owner of the action's agent never resolves it."""

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from agents.models import AgentState
from workflows import live
from workflows.dispatch import enqueue_execution
from workflows.inbox.errors import AlreadyDecided, InboxError
from workflows.inbox.records import finish, lock, name, record_action, save_change
from workflows.inbox.rules import require_not_owner, require_open, require_scope
from workflows.models import ActionRequest, ActionState, Escalation, EscalationKind

__all__ = ["REFERENCE_MAX", "reconcile_failed", "reconcile_retry", "reconcile_succeeded"]

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
    action, escalation = lock(escalation)
    require_scope(user, escalation)
    require_open(user, escalation)
    if escalation.kind != EscalationKind.RECONCILIATION:
        raise InboxError(
            f"This escalation reports a {escalation.kind}, not an unknown outcome: there is "
            "nothing to reconcile."
        )
    if action.state != ActionState.NEEDS_RECONCILIATION:
        raise AlreadyDecided(
            f"Already resolved: the action is {action.get_state_display().lower()}."
        )
    require_not_owner(user, action, "resolve its unknown outcomes")
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
    change = escalation.resolve(user, summary, note, now, outcome=outcome, **data)
    save_change(escalation, change, user)
    record_action(
        "action.reconciled",
        user,
        action,
        escalation_id=str(escalation.pk),
        state=action.state,
        **change.data,
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
    result = {"reconciled_by": name(user), "reference": reference}
    finish(action, ActionState.SUCCEEDED, "", now, result=result)
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
    error = f"Did not take effect (checked by {name(user)}): {note}"
    finish(action, ActionState.FAILED, error, now)
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
    action.run_again(now)
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
