"""The table rows of the inbox and the activity feed, as HTML built in Python.

Each row is one function used everywhere it appears: the inbox and activity pages (through
the `{% escalation_row %}` and `{% activity_row %}` tags of workflows/templatetags/rows.py),
the htmx answers of the inbox, and the live pushes (workflows.live). So a row arriving on a
socket is the row the page would render.

They are not template partials because a push renders one for every escalation event and
every executed action, on the committing request's or the worker's time. On the benchmark
machine the template language took ~1.1 ms for an escalation row and ~0.36 ms for an
activity row; `format_html` ~0.48 and ~0.16 ms (mostly Django's lazy-aware `escape` and
`reverse()`); these functions take ~0.19 and ~0.09 ms. They build HTML only through
`_html()`, which keeps `format_html`'s rule (every argument escaped unless it is safe HTML
already) with the standard library's `html.escape`, the function Django's `escape` wraps;
the rows' URLs are reversed once per process and script prefix.
"""

import functools
import html
import json
from datetime import UTC, datetime

from django.urls import get_script_prefix, reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from governance.redaction import redact
from workflows.models import ActionRequest, ActionState, ActionType, Escalation, EscalationState
from workflows.reasons import number

__all__ = ["PRIORITIES", "activity_row", "escalation_row", "relative_due", "summary", "urgency_key"]

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


def _html(template: str, *args) -> SafeString:
    """`format_html(template, *args)`: each argument escaped unless it is safe HTML already
    (has `__html__`), without the checks for lazy strings that make Django's escape slow."""
    escaped = (
        arg.__html__() if hasattr(arg, "__html__") else html.escape(str(arg)) for arg in args
    )
    return mark_safe(template.format(*escaped))  # noqa: S308 - every argument is escaped


_NOTHING = _html("")


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


def _summary_html(action: ActionRequest) -> SafeString:
    fields = summary(action.action_type, action.payload)
    if not fields:
        return _NOTHING
    items = [_html('{} <span class="fw-semibold">{}</span>', name, value) for name, value in fields]
    return _html(
        '\n    <div class="small escalation-summary">{}</div>',
        mark_safe(" · ".join(items)),  # noqa: S308 - each item is built by _html
    )


@functools.cache
def _url_of(name: str, prefix: str) -> str:
    return reverse(name, args=[_ANY_ID])


def _url(name: str, pk) -> str:
    """reverse(name, args=[pk]) for the escalation and action pages, whose only argument
    is an id."""
    return _url_of(name, get_script_prefix()).replace(_ANY_ID, str(pk))


def _why(action: ActionRequest) -> SafeString:
    """Under the decision: why a denied action was denied (the decision's reasons), or the
    error an action ended with."""
    text = action.error
    if action.state == ActionState.DENIED and action.decision and action.decision.reasons:
        text = "; ".join(str(reason) for reason in action.decision.reasons)
    if not text:
        return _NOTHING
    return _html(
        '<div class="text-body-secondary" id="activity-{}-why">{}</div>',
        action.pk,
        Truncator(text).chars(140),
    )


def activity_row(action: ActionRequest) -> SafeString:
    """An action's row in the activity feed, linking to the action's page (its agent,
    action type, business unit and decision loaded with it: live.ACTIVITY_RELATED). Its
    data- attributes are what the feed's filters match live rows on (static/js/live.js)."""
    shadow = _html(' <span class="badge text-bg-info">shadow</span>') if action.shadow else ""
    return _html(
        '<tr id="activity-{0}" data-state="{1}" data-unit="{12}" data-agent="{6}"'
        ' data-action="{14}">\n'
        '  <td class="small text-nowrap">{2}</td>\n'
        '  <td><a href="{13}" id="activity-{0}-link" title="{14}">{3}</a>{4}</td>\n'
        '  <td class="small">{5} <span class="mono text-body-secondary">({6})</span></td>\n'
        '  <td class="small">{7}</td>\n'
        '  <td id="activity-{0}-state"><span class="badge {8}">{9}</span></td>\n'
        '  <td class="small">{10}{11}</td>\n'
        "</tr>\n",
        action.pk,
        action.state,
        _when(action.created_at, "%Y-%m-%d %H:%M:%S"),
        action.action_type.label,
        shadow,
        action.agent.name,
        action.agent.slug,
        action.business_unit.name,
        _ACTION_BADGE.get(action.state, "text-bg-secondary"),
        _label(ActionState, action.state),
        action.decision.get_effect_display() if action.decision else "",
        _why(action),
        action.business_unit.slug,
        _url("workflows:action-detail", action.pk),
        action.action_type.name,
    )


def _sla(escalation: Escalation, now: datetime) -> tuple[str, SafeString]:
    """The due cell's class (sla-overdue, sla-at-risk: the row stands out) and content:
    while it waits, the due time relative to now with the absolute time on hover."""
    due = escalation.sla_due_at
    absolute = f"{_when(due, '%Y-%m-%d %H:%M')} UTC"
    if escalation.state not in _LIVE:
        return "", _html("{}", absolute)
    when = _html(
        '<time datetime="{}" title="{}" data-relative>{}</time>',
        due.astimezone(UTC).isoformat(),
        absolute,
        relative_due(due, now),
    )
    if due <= now:
        return " sla-overdue", when
    if escalation.warned_at:
        return " sla-at-risk", _html(
            '{}\n    <span class="badge text-bg-warning">due soon</span>', when
        )
    return "", when


def _by_whom(escalation: Escalation) -> SafeString:
    if escalation.state == EscalationState.CLAIMED:
        return _html('\n    <div class="small">by {}</div>', _username(escalation.claimed_by))
    if escalation.decided_by_id:
        return _html('\n    <div class="small">by {}</div>', _username(escalation.decided_by))
    if escalation.decision_note:
        note = Truncator(escalation.decision_note).chars(60)
        return _html('\n    <div class="small">{}</div>', note)
    return _NOTHING


def _buttons(escalation: Escalation, detail_url: str, row_error: str) -> SafeString:
    pk = escalation.pk
    change = _NOTHING
    if escalation.state in _LIVE:
        claim = escalation.state == EscalationState.OPEN
        change = _html(
            '<button class="btn btn-sm {0}" type="button" hx-post="{1}" '
            'hx-target="#escalation-{2}" hx-swap="outerHTML" id="{3}-{2}">{4}</button>\n    ',
            "btn-outline-primary" if claim else "btn-outline-secondary",
            _url("workflows:escalation-claim" if claim else "workflows:escalation-unclaim", pk),
            pk,
            "claim" if claim else "unclaim",
            "Claim" if claim else "Unclaim",
        )
    error = _NOTHING
    if row_error:
        error = _html(
            '\n    <div class="small text-danger text-wrap mt-1" role="alert" '
            'id="escalation-{}-error">{}</div>',
            pk,
            row_error,
        )
    return _html(
        '{}<a class="btn btn-sm btn-primary" href="{}">Review</a>{}', change, detail_url, error
    )


def escalation_row(
    escalation: Escalation, now: datetime | None = None, row_error: str = ""
) -> SafeString:
    """An escalation's row in the inbox (with what live.ESCALATION_RELATED loads). Nothing
    in it depends on who looks: data-assigned-to is the escalation's assignee, and buttons
    a person may not use are refused by the server with a message (`row_error`)."""
    now = now or timezone.now()
    pk = escalation.pk
    action = escalation.action
    action_type = action.action_type
    detail_url = _url("workflows:escalation-detail", pk)
    assigned = for_whom = kind = _NOTHING
    if escalation.assigned_to_id:
        assigned = _html(' data-assigned-to="{}"', escalation.assigned_to_id)
        for_whom = _html(
            '<div class="text-body-secondary">for {}</div>', _username(escalation.assigned_to)
        )
    if not escalation.is_approval:
        kind = _html('<span class="badge text-bg-dark me-1">{}</span>', escalation.kind)
    sla_class, sla = _sla(escalation, now)
    return _html(
        '<tr id="escalation-{0}" class="escalation-row{1}" data-state="{2}"{3}'
        ' data-order="{20}">\n'
        '  <td class="row-select">{25}</td>\n'
        '  <td><span class="badge {4}" title="Priority {5}: {21}">P{5}</span></td>\n'
        '  <td class="escalation-what">\n'
        '    <a class="fw-semibold" href="{6}" id="escalation-{0}-link" title="{22}">{7}</a>'
        "{23}\n"
        '    <div class="small text-body-secondary">{8} <span class="mono">({9})</span>'
        " · owner {10}</div>\n"
        "  </td>\n"
        '  <td class="small escalation-why">{11}{12}</td>\n'
        '  <td class="small">{13}{14}</td>\n'
        '  <td class="small text-nowrap escalation-due{24}">{15}</td>\n'
        '  <td id="escalation-{0}-state"><span class="badge {16}">{17}</span>{18}</td>\n'
        '  <td class="text-end text-nowrap escalation-actions">\n'
        "    {19}\n"
        "  </td>\n"
        "</tr>\n",
        pk,
        "" if escalation.state in _LIVE else " table-secondary",
        escalation.state,
        assigned,
        _PRIORITY_BADGE.get(escalation.priority, "text-bg-light border"),
        escalation.priority,
        detail_url,
        action_type.label,
        action.agent.name,
        action.agent.slug,
        _username(action.agent.owner),
        kind,
        Truncator(escalation.reason).chars(140),
        escalation.queue.name,
        for_whom,
        sla,
        _ESCALATION_BADGE.get(escalation.state, "text-bg-secondary"),
        _label(EscalationState, escalation.state),
        _by_whom(escalation),
        _buttons(escalation, detail_url, row_error),
        urgency_key(escalation),
        PRIORITIES.get(escalation.priority, "unknown risk"),
        action_type.name,
        _summary_html(action),
        sla_class,
        _select(escalation),
    )


def _select(escalation: Escalation) -> SafeString:
    """A waiting row's checkbox for the inbox's bulk decisions (form `inbox-bulk`)."""
    if escalation.state not in _LIVE:
        return _NOTHING
    return _html(
        '<input class="form-check-input" type="checkbox" name="ids" value="{0}" '
        'form="inbox-bulk" id="select-{0}" aria-label="Select this escalation">',
        escalation.pk,
    )


def urgency_key(escalation: Escalation) -> str:
    """The inbox's order (priority, then due time: most urgent first) as text that sorts
    the same way, for the page to place a row that arrives live where it belongs."""
    due = escalation.sla_due_at.astimezone(UTC)
    return f"{escalation.priority:05d}-{due:%Y%m%d%H%M%S%f}"
