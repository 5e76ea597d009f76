"""What every inbox service writes: the locks it takes (one order everywhere), the ledger
entries of escalations and their actions, and the end of an action.

Rows are locked in one order everywhere (agent, then action, then escalation), so a
decision, a suspension and the SLA sweep never deadlock: whoever locks first wins and the
others find the escalation no longer open ("already decided").
"""

from datetime import datetime

from governance import ledger
from workflows import live, webhooks
from workflows.models import ActionRequest, Escalation
from workflows.models.inbox import Change

__all__ = ["INBOX", "SLA", "finish", "lock", "name", "record", "record_action", "save_change"]

INBOX = ledger.Actor.system("inbox")
SLA = ledger.Actor.system("sla")


def name(user) -> str:
    """A person as the records and messages name them."""
    return user.get_username() if user is not None else "someone"


def lock(escalation: Escalation) -> tuple[ActionRequest, Escalation]:
    """Lock the escalation's action, then the escalation (the one lock order), fresh."""
    action_id = Escalation.objects.values_list("action_id", flat=True).get(pk=escalation.pk)
    action = ActionRequest.objects.select_for_update(of=("self",)).get(pk=action_id)
    locked = Escalation.objects.select_for_update(of=("self",)).get(pk=escalation.pk)
    return action, locked


def record(verb: str, actor, escalation: Escalation, **data) -> None:
    """Record an escalation's ledger entry (with its action and queue)."""
    ledger.record(
        verb,
        ledger.Actor.of(actor),
        escalation,
        business_unit_id=escalation.business_unit_id,
        data={"action_id": str(escalation.action_id), "queue": escalation.queue.slug, **data},
    )


def save_change(escalation: Escalation, change: Change, actor, **data) -> None:
    """Save what a transition of the escalation changed and record it, with `data` besides
    the facts the transition returned."""
    escalation.save(update_fields=change.fields)
    record(change.verb, actor, escalation, **change.data, **data)


def record_action(verb: str, actor, action: ActionRequest, **data) -> None:
    """Record an action's ledger entry."""
    ledger.record(verb, ledger.Actor.of(actor), **action.ledger_fields(), data=data)


def finish(action: ActionRequest, state: str, error: str, now: datetime, *, result=None) -> None:
    """End the action (rejected, expired, cancelled, or settled by a reconciliation); the
    agent's callback and the activity feed hear of it after commit."""
    action.end(state, error, now)
    fields = ["state", "completed_at", "error", "next_attempt_at"]
    if result is not None:
        action.result = result
        fields.append("result")
    action.save(update_fields=fields)
    webhooks.schedule(action, now=now)
    live.publish_activity(action.pk)
