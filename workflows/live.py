"""The live inbox and activity feed: who hears what, and the fragments pushed to them.

Group names are built in `group_name()` only. A person's socket joins (see `groups_for`):
the inbox group of each business unit they supervise, the group of each queue they were
granted (`workflows.work_queue`), and the activity group of each unit they may see; COE
staff join the COE inbox and activity groups, which hear everything. An escalation is
told to its queue's group, its queue's unit (a unit's queue only) and the COE, which are
exactly the people who may work it (workflows.queues).

Messages are sent after commit, read back from the database, as
`{"type": "escalation.new" | "escalation.claimed" | "escalation.warned" |
"escalation.decided" | "activity", "id", "html"}`, where `html` is the very fragment the
pages render (templates/workflows/partials/). The pages re-sync from the database when a
socket reconnects, so a lost message costs nothing but a moment.
"""

import asyncio
import os
import threading

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.utils import timezone

from governance.scoping import SUPERVISE, VIEW, business_units_for, is_agent, is_coe
from workflows.models import ActionRequest, Escalation
from workflows.queues import workable_queues

__all__ = [
    "ACTIVITY_ROW",
    "ESCALATION_ROW",
    "activity_queryset",
    "escalation_queryset",
    "group_name",
    "groups_for",
    "publish_activity",
    "publish_escalation",
    "render_activity",
    "render_escalation",
]

ESCALATION_ROW = "workflows/partials/escalation_row.html"
ACTIVITY_ROW = "workflows/partials/activity_row.html"


def group_name(audience: str, key: int | None = None) -> str:
    """The channel-layer group of one audience: "inbox" (a business unit's escalations, or
    with no key every escalation, for COE staff), "queue" (one queue's escalations) or
    "activity" (a unit's actions, or with no key all of them)."""
    if audience not in ("inbox", "queue", "activity"):
        raise ValueError(f"Unknown audience {audience!r}.")
    return f"{audience}.{'coe' if key is None else int(key)}"


def groups_for(user) -> list[str]:
    """Every group `user`'s socket may join; none for anonymous people and agents."""
    if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
        return []
    if is_coe(user):
        return [group_name("inbox"), group_name("activity")]
    supervised = set(business_units_for(user, SUPERVISE).values_list("pk", flat=True))
    groups = [group_name("inbox", pk) for pk in sorted(supervised)]
    granted = workable_queues(user).exclude(business_unit__in=supervised).order_by("pk")
    groups += [group_name("queue", pk) for pk in granted.values_list("pk", flat=True)]
    seen = business_units_for(user, VIEW).order_by("pk").values_list("pk", flat=True)
    groups += [group_name("activity", pk) for pk in seen]
    return groups


ESCALATION_RELATED = (
    "queue",
    "business_unit",
    "action__agent__owner",
    "action__action_type",
    "claimed_by",
    "decided_by",
    "assigned_to",
)
ACTIVITY_RELATED = ("agent", "action_type", "business_unit", "decision")


def escalation_queryset(base: QuerySet[Escalation] | None = None) -> QuerySet[Escalation]:
    """Escalations (of `base`, else all) with what their row shows."""
    return (Escalation.objects.all() if base is None else base).select_related(*ESCALATION_RELATED)


def activity_queryset(base: QuerySet[ActionRequest] | None = None) -> QuerySet[ActionRequest]:
    """Actions (of `base`, else all) with what their activity row shows."""
    return (ActionRequest.objects.all() if base is None else base).select_related(*ACTIVITY_RELATED)


def render_escalation(escalation: Escalation) -> str:
    """An escalation's inbox row, as the inbox page renders it."""
    return render_to_string(ESCALATION_ROW, {"escalation": escalation, "now": timezone.now()})


def render_activity(action: ActionRequest) -> str:
    """An action's activity row, as the activity page renders it."""
    return render_to_string(ACTIVITY_ROW, {"action": action})


_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0


def _push_loop() -> asyncio.AbstractEventLoop:
    """This process's long-lived event loop for pushes, on a thread of its own: the channel
    layer keeps its Redis connection per loop, so every push reuses one (a loop per push
    cost ~37 ms of setup each, see bench/RESULTS.md). Made anew after a fork."""
    global _loop, _loop_pid
    with _loop_lock:
        if _loop is None or _loop_pid != os.getpid() or _loop.is_closed():
            _loop, _loop_pid = asyncio.new_event_loop(), os.getpid()
            threading.Thread(target=_loop.run_forever, name="live-push", daemon=True).start()
        return _loop


def _send(groups: list[str], message: dict) -> None:
    """Send to every group at once and wait until the layer has taken the message."""
    layer = get_channel_layer()
    if layer is None:
        return

    async def send_all() -> None:
        await asyncio.gather(*(layer.group_send(group, message) for group in groups))

    if isinstance(layer, InMemoryChannelLayer):
        # Its queues belong to the consumers' loop: no second loop may touch them.
        async_to_sync(send_all)()
        return
    asyncio.run_coroutine_threadsafe(send_all(), _push_loop()).result(timeout=5)


def _push_escalation(escalation_id, event: str) -> None:
    escalation = escalation_queryset().filter(pk=escalation_id).first()
    if escalation is None:
        return
    groups = [group_name("queue", escalation.queue_id), group_name("inbox")]
    if escalation.queue.business_unit_id is not None:
        groups.append(group_name("inbox", escalation.queue.business_unit_id))
    message = {"type": event, "id": str(escalation.pk), "html": render_escalation(escalation)}
    _send(groups, message)


def _push_activity(action_id) -> None:
    action = activity_queryset().filter(pk=action_id).first()
    if action is None:
        return
    groups = [group_name("activity"), group_name("activity", action.business_unit_id)]
    _send(groups, {"type": "activity", "id": str(action.pk), "html": render_activity(action)})


def publish_escalation(escalation_id, event: str = "escalation.new") -> None:
    """Push the escalation's row to the people who may work it once the transaction commits
    (a push that fails is logged: the pages re-sync from the database)."""
    if not event.startswith("escalation."):
        raise ValueError(f"Not an escalation event: {event!r}.")
    transaction.on_commit(lambda: _push_escalation(escalation_id, event), robust=True)


def publish_activity(action_id) -> None:
    """Push the action's activity row to the people who may see its unit once the
    transaction commits."""
    transaction.on_commit(lambda: _push_activity(action_id), robust=True)
