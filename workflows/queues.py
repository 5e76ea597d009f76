"""Which queue an escalation goes to, and who may work a queue.

Routing: the decision's route names a queue; it is used only if it belongs to the action's
business unit or is a COE queue (a policy cannot send one unit's escalations to another
unit's people). Otherwise the action type's approval queue (same condition), otherwise the
unit's own queue "<unit>-approvals", created on first use with the COE queue
"coe-approvals" as its parent (where escalations go when the SLA runs out).

Who may work a queue: COE staff; supervisors of the queue's business unit; and people
(directly or through a group) holding guardian's `workflows.work_queue` on the queue, who,
for a business unit's queue, must also be members of that unit. COE queues: COE staff and
holders of `work_queue` only.
"""

from django.db.models import Q, QuerySet
from guardian.shortcuts import get_objects_for_user

from autonomy.core.principals import is_agent, is_coe
from governance.ledger import Actor
from governance.models import BusinessUnit
from governance.scoping import SUPERVISE, VIEW, business_units_for
from workflows.catalog import ensure_queue, queue_with_slug
from workflows.models import ActionRequest, Escalation, Queue

__all__ = [
    "COE_QUEUE_SLUG",
    "WORK_QUEUE",
    "coe_queue",
    "escalations_for",
    "may_use_inbox",
    "may_work",
    "queue_fits",
    "reassign_targets",
    "route_queue",
    "unit_queue",
    "visible_queues",
    "workable_queues",
]

COE_QUEUE_SLUG = "coe-approvals"
# Queues made on first use are the system's doing, recorded as such in the ledger.
QUEUE_MAKER = Actor.system("inbox")
WORK_QUEUE = "workflows.work_queue"


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


def _granted_queues(user) -> QuerySet[Queue]:
    """Queues on which `user` (or one of their groups) holds `work_queue` as an object perm."""
    return get_objects_for_user(
        user, WORK_QUEUE, klass=Queue, accept_global_perms=False, with_superuser=False
    )


def workable_queues(user) -> QuerySet[Queue]:
    """The queues whose escalations `user` may claim and decide."""
    if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
        return Queue.objects.none()
    if is_coe(user):
        return Queue.objects.all()
    supervised = business_units_for(user, SUPERVISE).values("pk")
    member_of = business_units_for(user, VIEW).values("pk")
    granted = _granted_queues(user).filter(
        Q(business_unit__isnull=True) | Q(business_unit__in=member_of)
    )
    return Queue.objects.filter(
        Q(business_unit__in=supervised) | Q(pk__in=granted.values("pk"))
    ).distinct()


def visible_queues(user) -> QuerySet[Queue]:
    """The queues `user` may read: those they may work, and those of the business units
    they belong to (COE staff: all of them)."""
    if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
        return Queue.objects.none()
    if is_coe(user):
        return Queue.objects.all()
    return Queue.objects.filter(
        Q(pk__in=workable_queues(user).values("pk"))
        | Q(business_unit__in=business_units_for(user, VIEW).values("pk"))
    )


def may_work(user, queue: Queue) -> bool:
    """Whether `user` may claim and decide escalations waiting in `queue`."""
    return workable_queues(user).filter(pk=queue.pk).exists()


def may_use_inbox(user) -> bool:
    """Whether `user` works an inbox at all (for the navigation): COE staff, supervisors and
    holders of a queue grant."""
    if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
        return False
    return (
        is_coe(user)
        or business_units_for(user, SUPERVISE).exists()
        or workable_queues(user).exists()
    )


def escalations_for(user) -> QuerySet[Escalation]:
    """Every escalation (any state) in the queues `user` may work; anything else is a 404."""
    return Escalation.objects.filter(queue__in=workable_queues(user).values("pk"))


def reassign_targets(escalation: Escalation) -> QuerySet[Queue]:
    """The queues an escalation may be moved to: its unit's queues and the COE queues."""
    return Queue.objects.filter(
        Q(business_unit__isnull=True) | Q(business_unit_id=escalation.business_unit_id)
    ).exclude(pk=escalation.queue_id)
