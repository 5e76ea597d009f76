"""Which queue an escalation goes to, and who may work a queue.

Routing: the decision's route names a queue; it is used only if it belongs to the action's
business unit or is a COE queue (a policy cannot send one unit's escalations to another
unit's people). Otherwise the action type's approval queue (same condition), otherwise the
unit's own queue "<unit>-approvals", created on first use with the COE queue
"coe-approvals" as its parent (where escalations go when the SLA runs out).

Who may work a queue is `Queue.objects.for_person(user, WORK)` (workflows.models.inbox).
"""

from django.db.models import Q, QuerySet

from autonomy.core.principals import is_agent, is_coe
from governance.ledger import Actor
from governance.models import BusinessUnit
from governance.scoping import SUPERVISE
from workflows.catalog import ensure_queue, queue_with_slug
from workflows.models import WORK, ActionRequest, Escalation, Queue

__all__ = [
    "COE_QUEUE_SLUG",
    "coe_queue",
    "may_use_inbox",
    "may_work",
    "queue_fits",
    "reassign_targets",
    "route_queue",
    "unit_queue",
]

COE_QUEUE_SLUG = "coe-approvals"
# Queues made on first use are the system's doing, recorded as such in the ledger.
QUEUE_MAKER = Actor.system("inbox")


def coe_queue() -> Queue:
    """The COE's approval queue, the top of every unit queue's chain (created on first use)."""
    return ensure_queue(QUEUE_MAKER, COE_QUEUE_SLUG, name="COE approvals", business_unit=None)


def unit_queue(unit: BusinessUnit) -> Queue:
    """A business unit's own approval queue, escalating to the COE queue (created on first use)."""
    known = queue_with_slug(f"{unit.slug}-approvals")
    if known is not None:
        return known
    return ensure_queue(
        QUEUE_MAKER,
        f"{unit.slug}-approvals",
        name=f"{unit.name} approvals",
        business_unit=unit,
        parent=coe_queue(),
    )


def queue_fits(queue: Queue | None, business_unit_id: int) -> bool:
    """Whether an action of that business unit may wait in `queue` (its unit's or a COE queue)."""
    return queue is not None and queue.business_unit_id in (None, business_unit_id)


def route_queue(action: ActionRequest, route: str) -> Queue:
    """The queue for an escalation of `action`: the route's, else the action type's, else the
    unit's own (see the module docstring). Queues come from the catalogue in memory."""
    if route:
        routed = queue_with_slug(route)
        if queue_fits(routed, action.business_unit_id):
            return routed
    approval_queue = action.action_type.approval_queue
    if queue_fits(approval_queue, action.business_unit_id):
        return approval_queue
    return unit_queue(action.business_unit)


def may_work(user, queue: Queue) -> bool:
    """Whether `user` may claim and decide escalations waiting in `queue`."""
    return Queue.objects.for_person(user, WORK).filter(pk=queue.pk).exists()


def may_use_inbox(user) -> bool:
    """Whether `user` works an inbox at all (for the navigation): COE staff, supervisors and
    holders of a queue grant."""
    if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
        return False
    return (
        is_coe(user)
        or BusinessUnit.objects.for_person(user, SUPERVISE).exists()
        or Queue.objects.for_person(user, WORK).exists()
    )


def reassign_targets(escalation: Escalation) -> QuerySet[Queue]:
    """The queues an escalation may be moved to: its unit's queues and the COE queues."""
    return Queue.objects.filter(
        Q(business_unit__isnull=True) | Q(business_unit_id=escalation.business_unit_id)
    ).exclude(pk=escalation.queue_id)
