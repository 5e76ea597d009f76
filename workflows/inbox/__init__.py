"""The supervisors' inbox: escalations opened, claimed, decided, reassigned, resolved,
expired and cancelled.

Each public function is one transaction that locks the rows in the one order (records),
checks who may act (rules), takes the escalation's transition (workflows.models.inbox),
writes the ledger and tells the live inbox after commit. By topic:

- opening: policy sent an action for approval, or execution failed or met an unknown outcome;
- decisions: claim, give back, approve (as submitted or edited), reject;
- assignment: hand over to another queue or to a person;
- reconciliation: resolve an unknown outcome after checking the system of record;
- sla: warn, move up the queue chain, expire;
- suspension: stop an agent, and cancel its waiting work when it stops;
- rules: who may act, for the services and the escalation's page alike.

This module is the inbox's public API: callers use `from workflows import inbox`.
"""

from workflows.inbox.assignment import assignable_people, reassign
from workflows.inbox.decisions import approve, claim, edit_and_approve, reject, unclaim
from workflows.inbox.errors import (
    AlreadyDecided,
    ClaimedByOther,
    InboxError,
    NotAllowed,
    OutOfScope,
)
from workflows.inbox.opening import (
    announce,
    escalate_failure,
    open_escalation,
    planned_approval,
)
from workflows.inbox.reconciliation import (
    REFERENCE_MAX,
    reconcile_failed,
    reconcile_retry,
    reconcile_succeeded,
)
from workflows.inbox.rules import Permitted, permitted_actions
from workflows.inbox.sla import check_slas
from workflows.inbox.suspension import cancel_for_stopped_agent, suspend_agent
from workflows.models.inbox import ACTIVE

__all__ = [
    "ACTIVE",
    "REFERENCE_MAX",
    "AlreadyDecided",
    "ClaimedByOther",
    "InboxError",
    "NotAllowed",
    "OutOfScope",
    "Permitted",
    "announce",
    "approve",
    "assignable_people",
    "cancel_for_stopped_agent",
    "check_slas",
    "claim",
    "edit_and_approve",
    "escalate_failure",
    "open_escalation",
    "permitted_actions",
    "planned_approval",
    "reassign",
    "reconcile_failed",
    "reconcile_retry",
    "reconcile_succeeded",
    "reject",
    "suspend_agent",
    "unclaim",
]
