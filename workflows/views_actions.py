"""Pages about actions: the activity feed (filtered, live) and one action's page.

Actions come from `ActionRequest.objects.for_person()` by their business unit: anything
outside a person's units is a 404. Payloads and results are shown with the action type's
sensitive fields as keyed hashes.
"""

import json

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from autonomy.core.htmx import htmx_partial
from governance.redaction import redact
from workflows import live
from workflows.filtersets import ActionFilterSet
from workflows.models import WORK, ActionRequest, Queue

__all__ = ["ACTIVITY_LIMIT", "action_detail", "activity"]

ACTIVITY_LIMIT = 50
# The feed's filters a live row must match, by the row's data- attribute (workflows.rows).
LIVE_MATCH = {"business_unit": "unit", "agent": "agent", "action": "action", "state": "state"}


def _limit(request: HttpRequest) -> int:
    try:
        return min(max(int(request.GET.get("limit", ACTIVITY_LIMIT)), 1), ACTIVITY_LIMIT)
    except ValueError:
        return ACTIVITY_LIMIT


@require_GET
@vary_on_headers("HX-Request", "HX-Target")
def activity(request: HttpRequest) -> HttpResponse:
    """The latest actions of the person's business units (allowed, denied, executed,
    failed...), filtered by unit, agent, action type and outcome, kept current by the live
    socket; `?limit=` (at most 50) for smaller feeds such as a dashboard's. Filters that
    cannot be applied are shown as such (400; 200 to htmx, which swaps only 2xx)."""
    limit = _limit(request)
    filterset = ActionFilterSet(
        request.GET, queryset=ActionRequest.objects.for_person(request.user), request=request
    )
    valid = filterset.is_valid()
    actions = live.activity_queryset(filterset.qs).order_by("-created_at")[:limit] if valid else []
    applied = {
        name: request.GET[name] for name in ActionFilterSet.base_filters if request.GET.get(name)
    }
    query = request.GET.copy()
    query["limit"] = str(limit)
    context = {
        "actions": actions,
        "limit": limit,
        "filterset": filterset,
        "filters_valid": valid,
        "resync_query": query.urlencode(),
        # Live rows are taken only when they match the filters in force (static/js/live.js).
        "live_match": {
            LIVE_MATCH[name]: value for name, value in applied.items() if name in LIVE_MATCH
        },
        # A time window is not matched live: rows arriving now are outside a past window.
        "live": valid and not ({"since", "until"} & set(applied)),
    }
    template = "workflows/activity.html"
    status = 200 if valid else 400
    if htmx_partial(request):
        # The filter form swaps the results; the live page's re-sync (and the home page's
        # feed) swap the rows.
        target = request.htmx.target
        template += "#activity-results" if target == "activity-results" else "#activity-rows"
        status = 200
    return render(request, template, context, status=status)


def _json(value) -> str:
    return json.dumps(value, indent=2, sort_keys=True)


@require_GET
def action_detail(request: HttpRequest, pk) -> HttpResponse:
    """One action for people: its state, decision, escalations, connector attempts and
    outcome (404 outside the person's business units)."""
    action = get_object_or_404(
        ActionRequest.objects.for_person(request.user).select_related(
            "agent__owner", "action_type", "business_unit", "decision", "approved_by"
        ),
        pk=pk,
    )
    sensitive = list(action.action_type.sensitive_fields or [])
    workable = set(Queue.objects.for_person(request.user, WORK).values_list("pk", flat=True))
    escalations = list(
        action.escalations.select_related(
            "queue", "claimed_by", "decided_by", "assigned_to"
        ).order_by("created_at")
    )
    for escalation in escalations:
        # The inbox page answers only those who may work the escalation's queue.
        escalation.openable = escalation.queue_id in workable
    context = {
        "action": action,
        "agent": action.agent,
        "payload": _json(redact(action.payload, sensitive)),
        "result": _json(redact(action.result, sensitive)) if action.result is not None else "",
        "escalations": escalations,
        "attempts": action.attempts.select_related("connector").order_by("number"),
    }
    return render(request, "workflows/action_detail.html", context)
