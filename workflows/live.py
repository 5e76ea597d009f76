"""The live inbox and activity feed: who hears what, and the fragments pushed to them.

Group names are built in `group_name()` only. A person's socket joins (see `groups_for`):
the inbox group of each business unit they supervise, the group of each queue they were
granted (`workflows.work_queue`), and the activity group of each unit they may see; COE
staff join the COE inbox and activity groups, which hear everything. An escalation is
told to its queue's group, its queue's unit (a unit's queue only) and the COE, which are
exactly the people who may work it (workflows.queues).

Messages are sent after commit, read back from the database (an activity row may instead
render the action its caller committed, see publish_activity), as
`{"type": "escalation.new" | "escalation.claimed" | "escalation.warned" |
"escalation.decided" | "activity", "id", "html"}`, where `html` is the very row the pages
render (workflows.rows). The pages re-sync from the database when a socket reconnects, so a
lost message costs nothing but a moment.

The inbox's lists are filtered, sorted and paged by the server (EscalationFilterSet), and
only the server knows what a filter matches (a search looks into payloads, which rows do not
carry). So the browser never adds a pushed escalation to a list: a push about a row the page
holds replaces it in place, and any other makes the page ask the server for its list again
(static/js/live.js). A push therefore needs no per-person or per-filter fragment, and the
socket only ever hears the groups above, the rows its person may see anyway; each row still
carries its assignee's id (`data-assigned-to`), from which the page keeps the "Assigned to
me" count of the rows it holds current until the next re-render brings the true one.

Each socket also joins its person's own group ("user.<id>"), which carries no fragments,
only `{"type": "rights.changed"}` (publish_rights_changed, sent by workflows.rights when a
person signs out, loses or gains a membership or permission, or is deactivated): the
socket then re-decides what it may hear (autonomy.consumers).

A push is on the path from commit to the person's screen (bench/push), so it does the
least it can there: at most one read back of the columns the row shows, one render per
row, and one hand-over of all its messages to the channel layer (workflows.push).
"""

from django.db import transaction
from django.db.models import QuerySet

from autonomy.core.principals import is_agent, is_coe
from governance.models import BusinessUnit
from governance.scoping import SUPERVISE, VIEW
from workflows import push, rows
from workflows.models import WORK, ActionRequest, Escalation, Queue

__all__ = [
    "activity_queryset",
    "escalation_queryset",
    "group_name",
    "groups_for",
    "publish_activities",
    "publish_activity",
    "publish_escalation",
    "publish_new_escalation",
    "publish_rights_changed",
    "render_activity",
    "render_escalation",
]


def group_name(audience: str, key: int | None = None) -> str:
    """The channel-layer group of one audience: "inbox" (a business unit's escalations, or
    with no key every escalation, for COE staff), "queue" (one queue's escalations) or
    "activity" (a unit's actions, or with no key all of them), "user" (one person's
    sockets, told when that person's rights change)."""
    if audience not in ("inbox", "queue", "activity", "user"):
        raise ValueError(f"Unknown audience {audience!r}.")
    return f"{audience}.{'coe' if key is None else int(key)}"


def groups_for(user) -> list[str]:
    """Every group `user`'s socket may join; none for anonymous people and agents."""
    if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
        return []
    if is_coe(user):
        return [group_name("inbox"), group_name("activity")]
    supervised = set(BusinessUnit.objects.for_person(user, SUPERVISE).values_list("pk", flat=True))
    groups = [group_name("inbox", pk) for pk in sorted(supervised)]
    granted = (
        Queue.objects.for_person(user, WORK).exclude(business_unit__in=supervised).order_by("pk")
    )
    groups += [group_name("queue", pk) for pk in granted.values_list("pk", flat=True)]
    seen = BusinessUnit.objects.for_person(user, VIEW).order_by("pk").values_list("pk", flat=True)
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
    return rows.escalation_row(escalation)


def render_activity(action: ActionRequest) -> str:
    """An action's activity row, as the activity page renders it."""
    return rows.activity_row(action)


# What the pushed row (workflows.rows.escalation_row) shows and the groups need, read back
# with the escalation in one query of only these columns (a push's read is on every push's
# path). The users a row may name (claimed, decided, assigned) are left to their foreign
# keys: a new escalation names none, and each join adds to PostgreSQL's planning of the
# statement.
# tests/workflows/test_live.py fails when the row shows something this leaves out.
PUSHED_ESCALATION_RELATED = ("queue", "action__agent__owner", "action__action_type")
PUSHED_ESCALATION_FIELDS = (
    "state",
    "priority",
    "kind",
    "reason",
    "sla_due_at",
    "warned_at",
    "decision_note",
    "assigned_to_id",
    "claimed_by_id",
    "decided_by_id",
    "queue__name",
    "queue__business_unit_id",
    "action__payload",
    "action__action_type__name",
    "action__action_type__title",
    "action__action_type__summary_fields",
    "action__action_type__sensitive_fields",
    "action__agent__name",
    "action__agent__slug",
    "action__agent__owner__username",
)


def _read_back(queryset: QuerySet):
    """The one row a primary-key queryset finds, or None: without the model's ordering and
    LIMIT (`first()`), which make PostgreSQL plan these joins far longer than it runs them
    (bench/RESULTS.md)."""
    return next(iter(queryset.order_by()), None)


def _push_escalation(escalation_id, event: str, escalation: Escalation | None = None) -> None:
    if escalation is None:
        escalation = _read_back(
            Escalation.objects.select_related(*PUSHED_ESCALATION_RELATED)
            .only(*PUSHED_ESCALATION_FIELDS)
            .filter(pk=escalation_id)
        )
    if escalation is not None:
        push.send(_escalation_send(escalation, event))


def _escalation_send(escalation: Escalation, event: str) -> tuple[list[str], dict]:
    groups = [group_name("queue", escalation.queue_id), group_name("inbox")]
    if escalation.queue.business_unit_id is not None:
        groups.append(group_name("inbox", escalation.queue.business_unit_id))
    return groups, {"type": event, "id": str(escalation.pk), "html": render_escalation(escalation)}


def _activity_send(action: ActionRequest) -> tuple[list[str], dict]:
    groups = [group_name("activity"), group_name("activity", action.business_unit_id)]
    return groups, {"type": "activity", "id": str(action.pk), "html": render_activity(action)}


def _push_activity(action_id, action: ActionRequest | None = None) -> None:
    if action is None:
        action = _read_back(activity_queryset().filter(pk=action_id))
    if action is not None:
        push.send(_activity_send(action))


def publish_escalation(
    escalation_id, event: str = "escalation.new", escalation: Escalation | None = None
) -> None:
    """Push the escalation's row to the people who may work it once the transaction commits
    (a push that fails is logged: the pages re-sync from the database). A caller holding
    the escalation as committed, with its queue and action, passes it and saves reading it
    back."""
    if not event.startswith("escalation."):
        raise ValueError(f"Not an escalation event: {event!r}.")
    transaction.on_commit(lambda: _push_escalation(escalation_id, event, escalation), robust=True)


def publish_activity(action_id, action: ActionRequest | None = None) -> None:
    """Push the action's activity row to the people who may see its unit once the
    transaction commits. A caller holding the action as committed, with its agent,
    action type, business unit and decision, passes it and saves reading it back."""
    transaction.on_commit(lambda: _push_activity(action_id, action), robust=True)


def publish_new_escalation(escalation: Escalation, action: ActionRequest) -> None:
    """After commit, push a just-opened escalation's inbox row ("escalation.new") and its
    action's activity row, both held as committed with what their rows show, in one round
    trip (publish_escalation and publish_activity would take one each)."""
    transaction.on_commit(
        lambda: push.send(_escalation_send(escalation, "escalation.new"), _activity_send(action)),
        robust=True,
    )


def publish_activities(actions: list[ActionRequest]) -> None:
    """publish_activity() of several actions held as committed, sent in one round trip."""
    if actions:
        transaction.on_commit(lambda: push.send(*map(_activity_send, actions)), robust=True)


def publish_rights_changed(user_ids, ended_session: str | None = None) -> None:
    """After commit, tell the open sockets of these people that their rights changed, so
    each re-decides what it may hear; the socket of `ended_session` (a sign-out) closes."""
    groups = sorted({group_name("user", pk) for pk in user_ids if pk is not None})
    if groups:
        message = {"type": "rights.changed", "session": ended_session or ""}
        transaction.on_commit(lambda: push.send((groups, message)), robust=True)
