"""Stopping an agent from the inbox, and what stopping does to its work: its queued and
pending actions and their open escalations are cancelled in the transaction that suspends
or retires it, each recorded in the ledger."""

from django.db import transaction
from django.utils import timezone

from agents import services as agent_services
from agents.models import Agent
from governance import ledger
from workflows import live
from workflows.inbox.errors import InboxError, NotAllowed
from workflows.inbox.records import finish, name, record_action, save_change
from workflows.models import ActionRequest, ActionState, Escalation
from workflows.models.inbox import ACTIVE

__all__ = ["cancel_for_stopped_agent", "suspend_agent"]


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
    by = f" by {name(person)}" if person is not None else " automatically"
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
        change = escalation.cancel(person, f"Agent {done}{why}", now)
        save_change(escalation, change, actor, reason=reason, note=note)
        live.publish_escalation(escalation.pk, "escalation.decided")
    for action in actions:
        before = action.state
        action.agent = agent
        finish(action, ActionState.CANCELLED, f"Agent {done}{by}{why}", now)
        record_action("action.cancelled", actor, action, reason=reason, was=before)
    return len(actions)
