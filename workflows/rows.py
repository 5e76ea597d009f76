"""The table rows of the inbox and the activity feed: what each row shows, decided here, and
rendered by one template partial per row (`escalation_row` in workflows/inbox.html,
`activity_row` in workflows/activity.html).

The same partial serves every place a row appears: the inbox, activity and home pages,
the htmx answers of the inbox, and the live pushes (workflows.live). So a row arriving on
a socket is the row the page would render. The functions here give a row's values that
take a decision (badges, labels, due times, what is summarised, links); the partials lay
them out and escape every value.
"""

import functools
import json
from datetime import UTC, datetime

from django.template.loader import render_to_string
from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.text import Truncator

from governance.redaction import redact
from workflows.models import ActionRequest, ActionState, ActionType, Escalation, EscalationState
from workflows.reasons import number

__all__ = [
    "PRIORITIES",
    "activity_facts",
    "activity_row",
    "escalation_facts",
    "escalation_row",
    "relative_due",
    "summary",
    "urgency_key",
]

_ACTION_BADGE = {
    ActionState.SUCCEEDED: "text-bg-success",
    ActionState.QUEUED: "text-bg-primary",
    ActionState.EXECUTING: "text-bg-primary",
    ActionState.PENDING_APPROVAL: "text-bg-warning",
    ActionState.FAILED: "text-bg-danger",
    ActionState.DENIED: "text-bg-danger",
    ActionState.REJECTED: "text-bg-danger",
    ActionState.NEEDS_RECONCILIATION: "text-bg-danger",
}
_ESCALATION_BADGE = {
    EscalationState.OPEN: "text-bg-primary",
    EscalationState.CLAIMED: "text-bg-info",
    EscalationState.APPROVED: "text-bg-success",
    EscalationState.RESOLVED: "text-bg-success",
    EscalationState.REJECTED: "text-bg-danger",
    EscalationState.EXPIRED: "text-bg-danger",
}
_PRIORITY_BADGE = {1: "text-bg-danger", 2: "text-bg-warning"}
# What each priority means (workflows.inbox.opening.PRIORITY sets it from the action's risk tier).
PRIORITIES = {
    1: "high or critical risk",
    2: "medium risk",
    3: "low risk",
}
_SUMMARY_CHARS = 40
_LIVE = (EscalationState.OPEN, EscalationState.CLAIMED)
_ANY_ID = "00000000-0000-0000-0000-000000000000"


def _username(user) -> str:
    return user.get_username() if user is not None else ""


def _when(value: datetime, fmt: str) -> str:
    """`value` in the current time zone, as the templates' `date` filter shows it."""
    return timezone.localtime(value).strftime(fmt)


def _label(choices: type, value: str) -> str:
    """The display label of a choice (the value itself for one no longer offered)."""
    try:
        return choices(value).label
    except ValueError:
        return value


def relative_due(due: datetime, now: datetime) -> str:
    """ "in 12 min", "3 min overdue", "in 2 h 5 min", "1 d 4 h overdue" (static/js/due.js
    says the same as time passes)."""
    seconds = (due - now).total_seconds()
    minutes = int(abs(seconds) // 60)
    if minutes < 1:
        span = "under 1 min"
    elif minutes < 60:
        span = f"{minutes} min"
    elif minutes < 48 * 60:
        span = f"{minutes // 60} h {minutes % 60} min" if minutes % 60 else f"{minutes // 60} h"
    else:
        span = f"{minutes // 1440} d {minutes % 1440 // 60} h"
    return f"in {span}" if seconds > 0 else f"{span} overdue"


def _shown(value) -> str:
    """A payload value as a row shows it: numbers grouped, text and JSON shortened."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = number(value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True)
    return Truncator(text).chars(_SUMMARY_CHARS)


def summary(action_type: ActionType, payload) -> list[tuple[str, str]]:
    """The action type's summary fields present in `payload`, as (name, shown value);
    sensitive fields as their keyed hashes, as everywhere people see payloads."""
    names = [name for name in action_type.summary_fields or [] if isinstance(name, str)]
    if not isinstance(payload, dict) or not names:
        return []
    sensitive = [name for name in action_type.sensitive_fields or [] if name in names]
    if sensitive:
        payload = redact({name: payload[name] for name in names if name in payload}, sensitive)
    return [(name, _shown(payload[name])) for name in names if name in payload]


@functools.cache
def _url_of(name: str, prefix: str) -> str:
    return reverse(name, args=[_ANY_ID])


def _url(name: str, pk) -> str:
    """reverse(name, args=[pk]) for the escalation and action pages, whose only argument
    is an id."""
    return _url_of(name, get_script_prefix()).replace(_ANY_ID, str(pk))


def _why(action: ActionRequest) -> str:
    """Under the decision: why a denied action was denied (the decision's reasons), or the
    error an action ended with."""
    if action.state == ActionState.DENIED and action.decision and action.decision.reasons:
        return "; ".join(str(reason) for reason in action.decision.reasons)
    return action.error


def activity_facts(action: ActionRequest) -> dict:
    """What an action's activity row shows beyond its own fields (its agent, action type,
    business unit and decision loaded with it: live.ACTIVITY_RELATED)."""
    return {
        "created": _when(action.created_at, "%Y-%m-%d %H:%M:%S"),
        "url": _url("workflows:action-detail", action.pk),
        "badge": _ACTION_BADGE.get(action.state, "text-bg-secondary"),
        "state": _label(ActionState, action.state),
        "effect": action.decision.get_effect_display() if action.decision else "",
        "why": _why(action),
    }


def activity_row(action: ActionRequest) -> str:
    """An action's row in the activity feed, linking to the action's page. Its data-
    attributes are what the feed's filters match live rows on (static/js/live.js)."""
    context = {"action": action, "row": activity_facts(action)}
    return render_to_string("workflows/activity.html#activity_row", context)


def _sla(escalation: Escalation, now: datetime) -> dict:
    """The due cell: its class (sla-overdue, sla-at-risk: the row stands out), the
    absolute due time, and while it waits the due time relative to now."""
    due = escalation.sla_due_at
    shown = {"due": f"{_when(due, '%Y-%m-%d %H:%M')} UTC", "sla_class": "", "waiting": False}
    if escalation.state not in _LIVE:
        return shown
    shown.update(waiting=True, due_iso=due.astimezone(UTC).isoformat())
    shown["due_in"] = relative_due(due, now)
    if due <= now:
        shown["sla_class"] = " sla-overdue"
    elif escalation.warned_at:
        shown["sla_class"] = " sla-at-risk"
    return shown


def _by_whom(escalation: Escalation) -> str:
    """Under the state: who holds or decided the escalation, else its decision's note."""
    if escalation.state == EscalationState.CLAIMED:
        return f"by {_username(escalation.claimed_by)}"
    if escalation.decided_by_id:
        return f"by {_username(escalation.decided_by)}"
    return Truncator(escalation.decision_note).chars(60)


def escalation_facts(escalation: Escalation, now: datetime | None = None, error: str = "") -> dict:
    """What an escalation's inbox row shows beyond its own fields (with what
    live.ESCALATION_RELATED loads). Nothing in it depends on who looks: the row carries
    its assignee's id, and buttons a person may not use are refused by the server with a
    message (`error`)."""
    pk = escalation.pk
    live = escalation.state in _LIVE
    action = escalation.action
    button = "claim" if escalation.state == EscalationState.OPEN else "unclaim"
    return {
        "live": live,
        "order": urgency_key(escalation),
        "priority_badge": _PRIORITY_BADGE.get(escalation.priority, "text-bg-light border"),
        "priority": PRIORITIES.get(escalation.priority, "unknown risk"),
        "url": _url("workflows:escalation-detail", pk),
        "summary": summary(action.action_type, action.payload),
        "owner": _username(action.agent.owner),
        "for_whom": _username(escalation.assigned_to) if escalation.assigned_to_id else "",
        "badge": _ESCALATION_BADGE.get(escalation.state, "text-bg-secondary"),
        "state": _label(EscalationState, escalation.state),
        "by_whom": _by_whom(escalation),
        "button": button,
        "button_url": _url(f"workflows:escalation-{button}", pk) if live else "",
        "error": error,
        **_sla(escalation, now or timezone.now()),
    }


def escalation_row(escalation: Escalation, now: datetime | None = None, row_error: str = "") -> str:
    """An escalation's row in the inbox; `now` decides whether it shows as overdue."""
    context = {"escalation": escalation, "row": escalation_facts(escalation, now, row_error)}
    return render_to_string("workflows/inbox.html#escalation_row", context)


def urgency_key(escalation: Escalation) -> str:
    """The inbox's order (priority, then due time: most urgent first) as text that sorts
    the same way, for the page to place a row that arrives live where it belongs."""
    due = escalation.sla_due_at.astimezone(UTC)
    return f"{escalation.priority:05d}-{due:%Y%m%d%H%M%S%f}"
