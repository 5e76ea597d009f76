"""Bulk decisions: several escalations approved or rejected with one note, each on its own.

A bulk decision is nothing but single decisions in a row: each escalation goes through the
same service as one decided from its page (workflows.inbox.approve or .reject: scope, the
owner rule, state checks, the ledger, the live push), in its own transaction, so a refused
row changes nothing and never stops the others, and nobody bulk-approves a row they could
not approve by itself. An id outside the person's queues is answered exactly like an id
that does not exist (`not_found`), so a bulk request reveals nothing one by one would not.
"""

import uuid
from dataclasses import asdict, dataclass

from workflows import inbox
from workflows.models import Escalation

__all__ = ["BULK_MAX", "DECISIONS", "Outcome", "decide_each"]

BULK_MAX = 100
DECISIONS = ("approve", "reject")
DONE = {
    "approve": ("approved", "Approved: the action is queued for execution."),
    "reject": ("rejected", "Rejected: the agent is told why."),
}
NOT_FOUND = "No such escalation in your queues."


@dataclass(frozen=True)
class Outcome:
    """What happened to one escalation of a bulk decision."""

    id: str
    ok: bool
    code: str
    message: str

    def as_dict(self) -> dict:
        return asdict(self)


def decide_each(user, ids: list[uuid.UUID], decision: str, note: str = "") -> list[Outcome]:
    """Approve or reject (`decision`) each escalation of `ids`, in order, each in its own
    transaction through workflows.inbox; one Outcome per id. `note` is the approval note or
    the reason of the rejections (required to reject, as for one). Called outside a
    transaction (as views are), each row commits, or is refused, before the next starts."""
    if decision not in DECISIONS:
        raise ValueError(f"Unknown decision {decision!r}.")
    visible = Escalation.objects.for_person(user).select_related("queue").in_bulk(ids)
    service = inbox.approve if decision == "approve" else inbox.reject
    outcomes = []
    for pk in ids:
        escalation: Escalation | None = visible.get(pk)
        if escalation is None:
            outcomes.append(Outcome(str(pk), False, inbox.OutOfScope.code, NOT_FOUND))
            continue
        try:
            service(user, escalation, note)
        except inbox.InboxError as exc:
            outcomes.append(Outcome(str(pk), False, exc.code, exc.message))
        else:
            outcomes.append(Outcome(str(pk), True, *DONE[decision]))
    return outcomes
