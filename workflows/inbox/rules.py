"""Who may act on an escalation, and when: the checks every inbox service makes, and
`permitted_actions`, the same rules as the escalation's page shows them.

Only those who may work the escalation's queue (workflows.queues) act on it; anyone else
gets `OutOfScope` (a 404). An escalation handed to a person is theirs alone to decide, one
claimed by a person theirs until they give it back (COE staff may give anyone's back). The
owner of an agent never approves its requests nor resolves their unknown outcomes (there is
no policy exception for that yet), and only an active agent's requests are approved.
"""

from dataclasses import dataclass

from agents.models import AgentState
from autonomy.core.principals import is_coe
from workflows.inbox.errors import (
    AlreadyDecided,
    ClaimedByOther,
    InboxError,
    NotAllowed,
    OutOfScope,
)
from workflows.inbox.records import name
from workflows.models import ActionRequest, ActionState, Escalation, EscalationKind, EscalationState
from workflows.queues import may_work

__all__ = [
    "Permitted",
    "awaits_reconciliation",
    "claimed_by_other",
    "may_release",
    "owns_agent",
    "permitted_actions",
    "require_agent_active",
    "require_not_owner",
    "require_open",
    "require_pending",
    "require_scope",
]


def claimed_by_other(user, escalation: Escalation) -> bool:
    return escalation.state == EscalationState.CLAIMED and escalation.claimed_by_id != user.pk


def _assigned_to_other(user, escalation: Escalation) -> bool:
    return escalation.assigned_to_id not in (None, user.pk)


def may_release(user) -> bool:
    """Whether the person may give anyone's claim back to the queue (COE staff)."""
    return is_coe(user)


def owns_agent(user, action: ActionRequest) -> bool:
    """Whether the person owns the action's agent (and so may not approve or resolve it)."""
    return action.agent.owner_id == user.pk


def awaits_reconciliation(escalation: Escalation, action: ActionRequest) -> bool:
    """Whether the escalation reports an unknown outcome that is still to be resolved."""
    return (
        escalation.kind == EscalationKind.RECONCILIATION
        and action.state == ActionState.NEEDS_RECONCILIATION
    )


@dataclass(frozen=True)
class Permitted:
    """What a person may do with an escalation now, by the rules the services enforce."""

    active: bool  # it still waits for a decision
    assigned_elsewhere: bool  # handed to another person: only they decide it
    claimed_elsewhere: bool  # claimed by another: they decide it unless they give it back
    may_release: bool  # may give another's claim back to the queue
    is_owner: bool  # owns the agent: may reject or reassign, not approve or resolve
    reconcilable: bool  # an unknown outcome waits to be resolved


def permitted_actions(user, escalation: Escalation) -> Permitted:
    """The rules of this module for `user` and `escalation`, as the page shows them."""
    action = escalation.action
    active = escalation.is_active
    return Permitted(
        active=active,
        assigned_elsewhere=active and _assigned_to_other(user, escalation),
        claimed_elsewhere=claimed_by_other(user, escalation),
        may_release=may_release(user),
        is_owner=owns_agent(user, action),
        reconcilable=active and awaits_reconciliation(escalation, action),
    )


def require_scope(user, escalation: Escalation) -> None:
    """The escalation is in a queue the person may work."""
    if not may_work(user, escalation.queue):
        raise OutOfScope("No such escalation in your queues.")


def require_open(user, escalation: Escalation) -> None:
    """The escalation still waits for a decision, and not someone else's."""
    if not escalation.is_active:
        who = f" by {name(escalation.decided_by)}" if escalation.decided_by_id else ""
        raise AlreadyDecided(f"Already decided: {escalation.get_state_display().lower()}{who}.")
    if claimed_by_other(user, escalation):
        raise ClaimedByOther(f"{name(escalation.claimed_by)} has claimed this escalation.")
    if _assigned_to_other(user, escalation):
        raise NotAllowed(f"This escalation is assigned to {name(escalation.assigned_to)}.")


def require_pending(action: ActionRequest, escalation: Escalation) -> None:
    """The escalation asks for an approval, and its action still waits for one."""
    if not escalation.is_approval:
        raise InboxError(
            f"This escalation reports a {escalation.kind}: there is nothing to approve. "
            "Reject it to close it (the action keeps its state), or reassign it."
        )
    if action.state != ActionState.PENDING_APPROVAL:
        raise AlreadyDecided(
            f"The action is no longer waiting for approval: it is "
            f"{action.get_state_display().lower()}."
        )


def require_agent_active(action: ActionRequest) -> None:
    """Only an active agent's requests are approved: suspending or retiring an agent cancels
    them (see `cancel_for_stopped_agent`), and this refuses any that slipped past."""
    agent = action.agent
    if agent.state != AgentState.ACTIVE:
        raise NotAllowed(
            f"Agent {agent.slug} is {agent.get_state_display().lower()}: its requests cannot "
            "be approved. Reject this one to close it."
        )


def require_not_owner(user, action: ActionRequest, what: str = "approve its requests") -> None:
    """The person does not own the action's agent."""
    if owns_agent(user, action):
        raise NotAllowed(f"You own agent {action.agent.slug}: another supervisor must {what}.")
