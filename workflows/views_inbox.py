"""The supervisors' inbox pages (htmx).

Escalations come from Escalation.objects.for_person(): anything outside the queues a
person may work is a 404. The list is filtered, searched, sorted and paged by
workflows.filtersets.EscalationFilterSet (as the API's), and bulk decisions go row by row
through workflows.bulk. An escalation's page knows the list it was opened from
(`?from=<the list's query>`): its previous/next follow that list's order and filters.
Every change goes through workflows.inbox, which decides who may act (the page shows the
same rules: `inbox.permitted_actions`); its refusals are shown in the page (htmx requests
always get a 200 fragment so that htmx swaps the message in). The rows are the same
fragments the live socket pushes.
"""

import json
import re
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict
from urllib.parse import urlencode, urlsplit

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from agents.models import AgentState
from agents.services import may as may_transition
from autonomy.core.htmx import htmx_partial
from governance.models import AuditEntry, DecisionRecord
from governance.redaction import redact
from workflows import bulk, inbox, live, rows
from workflows.counts import inbox_counts as counts_for
from workflows.filtersets import EscalationFilterSet, waiting
from workflows.forms import (
    BulkDecisionForm,
    EditForm,
    NoteForm,
    ReassignForm,
    ReconcileForm,
    RejectForm,
    SuspendForm,
)
from workflows.models import (
    ActionRequest,
    ActionState,
    Escalation,
    EscalationKind,
    EscalationState,
)
from workflows.queues import may_use_inbox
from workflows.reasons import plain_reason

__all__ = [
    "approve",
    "claim",
    "edit_and_approve",
    "escalation_detail",
    "inbox_bulk",
    "inbox_counts",
    "inbox_list",
    "reassign",
    "reconcile",
    "reject",
    "suspend_agent",
    "unclaim",
]

PAGE_SIZE = 50
RECORD_WINDOW = 20
RATES_WINDOW = 50
# The inbox's filters the escalation page's previous/next follow (values are slugs or ids).
_NAV_VALUE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
DETAIL = "workflows/inbox_detail.html"


def _visible(request: HttpRequest) -> QuerySet[Escalation]:
    return live.escalation_queryset(Escalation.objects.for_person(request.user))


def _get(request: HttpRequest, pk) -> Escalation:
    return get_object_or_404(_visible(request), pk=pk)


@vary_on_headers("HX-Request")
def inbox_list(request: HttpRequest) -> HttpResponse:
    """The escalations of the queues this person may work, filtered, searched, sorted and
    paged by EscalationFilterSet (waiting ones, most urgent first, unless told otherwise);
    htmx asks for the list only (the filter form, the pages, and the live page's re-renders:
    see static/js/live.js). People who work no inbox (auditors, builders) get 404, as for
    every page outside a person's scope."""
    if not may_use_inbox(request.user):
        raise Http404("Only COE staff, supervisors and holders of a queue work an inbox.")
    data = request.GET.copy()
    data.setdefault("state", "waiting")
    visible = _visible(request)
    now = timezone.now()
    filterset = EscalationFilterSet(data, queryset=visible, request=request, now=now)
    filterset.is_valid()  # a bad filter is left out, and the page says so
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filterset": filterset,
        "page": page,
        "escalations": page.object_list,
        "mine": filterset.form.cleaned_data.get("assigned") == "me",
        "assigned_count": waiting(visible).filter(assigned_to=request.user).count(),
        "now": now,
        "list_url": request.get_full_path(),
        "bulk_form": BulkDecisionForm(),
        "bulk_max": bulk.BULK_MAX,
    }
    template = "workflows/inbox.html"
    if htmx_partial(request):
        template += "#inbox-list"
    return render(request, template, context)


@require_POST
def inbox_bulk(request: HttpRequest) -> HttpResponse:
    """Approve or reject the selected escalations with one note, each on its own through the
    same service as one (workflows.bulk); answers what happened to each (htmx: the results
    fragment, and an `inbox-changed` event that re-renders the list)."""
    form = BulkDecisionForm(request.POST)
    outcomes = []
    if form.is_valid():
        outcomes = bulk.decide_each(
            request.user,
            form.cleaned_data["ids"],
            form.cleaned_data["decision"],
            form.cleaned_data["note"].strip(),
        )
    if not htmx_partial(request):
        if not form.is_valid():
            for errors in form.errors.values():
                messages.error(request, " ".join(errors))
        else:
            done = sum(outcome.ok for outcome in outcomes)
            messages.info(request, f"{done} of {len(outcomes)} decided.")
        return redirect("workflows:inbox")
    shown = _visible(request).select_related("action__agent", "action__action_type")
    found = shown.in_bulk([outcome.id for outcome in outcomes if outcome.code != "not_found"])
    results = [(outcome, found.get(uuid.UUID(outcome.id))) for outcome in outcomes]
    context = {"bulk_form": form, "results": results, "bulk_max": bulk.BULK_MAX}
    response = render(request, "workflows/inbox.html#bulk-results", context)
    if outcomes:
        response["HX-Trigger"] = "inbox-changed"
    return response


def inbox_counts(request: HttpRequest) -> JsonResponse:
    """`{"open", "at_risk"}`: how many escalations wait in this person's queues, and how many
    of them are at risk (the menu and the home page fetch it again on live news); a 404 for
    someone who works no inbox."""
    counts = counts_for(request.user)
    if counts is None:
        raise Http404("You work no inbox.")
    return JsonResponse(counts)


def _fields_table(payload) -> list[tuple[str, str]]:
    """A payload's top-level fields as name/value texts (nested values as JSON)."""
    if not isinstance(payload, dict):
        return [("(payload)", json.dumps(payload))]
    return [
        (name, value if isinstance(value, str) else json.dumps(value, sort_keys=True))
        for name, value in payload.items()
    ]


def _diff(before, after) -> list[dict]:
    """Field by field: the submitted payload against the edited one (both redacted)."""
    before = before if isinstance(before, dict) else {}
    after = after if isinstance(after, dict) else {}
    rows = []
    for name in [*before, *(key for key in after if key not in before)]:
        old, new = before.get(name), after.get(name)
        rows.append(
            {
                "field": name,
                "before": "" if name not in before else json.dumps(old, sort_keys=True),
                "after": "" if name not in after else json.dumps(new, sort_keys=True),
                "changed": name not in before or name not in after or old != new,
            }
        )
    return rows


def _record(action: ActionRequest) -> list[tuple[str, int]]:
    """How the agent's last actions ended, by state."""
    recent = ActionRequest.objects.filter(agent_id=action.agent_id).order_by("-created_at")
    counts = Counter(recent.values_list("state", flat=True)[:RECORD_WINDOW])
    return [(ActionState(state).label, count) for state, count in counts.most_common()]


def _human_rates(action: ActionRequest) -> dict | None:
    """How people decided the agent's last approval requests (approved, of which with edits,
    and rejected), as counts and whole percentages; None before anyone decided one."""
    decided = list(
        Escalation.objects.filter(
            action__agent_id=action.agent_id,
            kind=EscalationKind.APPROVAL,
            decided_by__isnull=False,
            state__in=(EscalationState.APPROVED, EscalationState.REJECTED),
        )
        .order_by("-decided_at")
        .values_list("state", "edited_payload")[:RATES_WINDOW]
    )
    if not decided:
        return None
    counts = {
        "approved": sum(state == EscalationState.APPROVED for state, _ in decided),
        "edited": sum(
            state == EscalationState.APPROVED and edited is not None for state, edited in decided
        ),
        "rejected": sum(state == EscalationState.REJECTED for state, _ in decided),
    }
    total = len(decided)
    return {
        "total": total,
        **{name: (count, round(100 * count / total)) for name, count in counts.items()},
    }


def _list_query(request: HttpRequest) -> str:
    """The inbox list's query string the page was opened from (`?from=`), as given; for an
    htmx request without one (the panel fetched again when someone else decides), the one
    in the address of the page that asked."""
    query = request.GET.get("from")
    if query is None and request.htmx and request.htmx.current_url:
        query = QueryDict(urlsplit(request.htmx.current_url).query).get("from")
    return (query or "")[:1000]


def _in_list(request: HttpRequest) -> QuerySet[Escalation]:
    """The escalations of the list the page was opened from, for previous/next: those this
    person may work, open unless the list asked for another state, narrowed by the list's
    queue (slug or id) and `assigned=me`."""
    params = QueryDict(_list_query(request))
    wanted = {
        name: value
        for name in ("queue", "state", "assigned")
        if _NAV_VALUE.match(value := params.get(name, ""))
    }
    state = wanted.get("state", "")
    listed = Escalation.objects.for_person(request.user).filter(
        state=state if state in EscalationState.values else EscalationState.OPEN
    )
    if queue := wanted.get("queue"):
        by_queue = Q(queue__slug=queue)
        if queue.isdigit() and len(queue) < 19:  # an id within bigint's range
            by_queue |= Q(queue_id=int(queue))
        listed = listed.filter(by_queue)
    if wanted.get("assigned") == "me":
        listed = listed.filter(assigned_to=request.user)
    return listed


def _neighbours(request: HttpRequest, escalation: Escalation) -> tuple:
    """The escalations before and after this one in the list's order (priority, due time,
    then id), whether or not this one is still in the list (after it was decided)."""
    p, due, pk = escalation.priority, escalation.sla_due_at, escalation.pk
    listed = _in_list(request).exclude(pk=pk).select_related("action__action_type")
    after = (
        Q(priority__gt=p)
        | Q(priority=p, sla_due_at__gt=due)
        | Q(priority=p, sla_due_at=due, pk__gt=pk)
    )
    before = (
        Q(priority__lt=p)
        | Q(priority=p, sla_due_at__lt=due)
        | Q(priority=p, sla_due_at=due, pk__lt=pk)
    )
    following = listed.filter(after).order_by("priority", "sla_due_at", "pk").first()
    preceding = listed.filter(before).order_by("-priority", "-sla_due_at", "-pk").first()
    return preceding, following


def _decisions_compared(escalation: Escalation, action: ActionRequest) -> dict | None:
    """After edit-and-approve: the decision on the submitted payload and the one taken again
    on the edited payload (found through the approval's ledger entry), each said plainly."""
    if escalation.edited_payload is None or escalation.state != EscalationState.APPROVED:
        return None
    approval = (
        AuditEntry.objects.filter(
            object_type=Escalation._meta.label_lower,
            object_id=str(escalation.pk),
            verb="escalation.approved",
        )
        .values_list("data", flat=True)
        .first()
    )
    redecision_id = (approval or {}).get("redecision_id")
    edited = DecisionRecord.objects.filter(pk=redecision_id).first() if redecision_id else None
    if action.decision is None or edited is None:
        return None
    return {
        "submitted": (action.decision, plain_reason(action.decision)),
        "edited": (edited, plain_reason(edited)),
    }


def _chain(escalation: Escalation) -> list[Escalation]:
    """The escalations this one took over from, newest first (reassignments, SLA moves)."""
    chain, current = [], escalation
    while current.previous_id is not None and len(chain) < 20:
        current = Escalation.objects.select_related("queue", "decided_by").get(
            pk=current.previous_id
        )
        chain.append(current)
    return chain


def _detail_context(request: HttpRequest, escalation: Escalation, **extra) -> dict:
    action = escalation.action
    sensitive = list(action.action_type.sensitive_fields or [])
    shown = redact(action.payload, sensitive)
    submitted = action.decision.payload if action.decision else shown
    user = request.user
    permitted = inbox.permitted_actions(user, escalation)
    active = permitted.active
    edit_form = extra.pop("edit_form", None) or EditForm(initial={"payload": shown})
    attempted = extra.pop("attempted_payload", None)
    edited = escalation.edited_payload
    if attempted is not None:
        edited = redact(attempted, sensitive)
    # What took over from a reassigned or moved escalation, and whether this person sees it.
    successor = (
        None
        if active
        else Escalation.objects.select_related("queue", "assigned_to")
        .filter(previous=escalation)
        .first()
    )
    list_query = _list_query(request)
    previous, following = _neighbours(request, escalation)
    context = {
        "escalation": escalation,
        "action": action,
        "agent": action.agent,
        "now": timezone.now(),
        "payload_fields": _fields_table(shown),
        "diff": _diff(submitted, edited) if edited is not None else None,
        "record": _record(action),
        "record_window": RECORD_WINDOW,
        "rates": _human_rates(action),
        "rates_window": RATES_WINDOW,
        "compared": _decisions_compared(escalation, action),
        "summary": rows.summary(action.action_type, action.payload),
        "priorities": rows.PRIORITIES,
        "due_in": rows.relative_due(escalation.sla_due_at, timezone.now()),
        "list_query": list_query,
        "keep_list": f"?{urlencode({'from': list_query})}" if list_query else "",
        "previous": previous,
        "next": following,
        "chain": _chain(escalation),
        # What this person may do, by the inbox's rules: active, assigned_elsewhere,
        # claimed_elsewhere, may_release, is_owner, reconcilable.
        **asdict(permitted),
        "successor": successor,
        "successor_visible": successor is not None
        and _visible(request).filter(pk=successor.pk).exists(),
        "approve_form": extra.pop("approve_form", None) or NoteForm(),
        "edit_form": edit_form,
        "reject_form": extra.pop("reject_form", None) or RejectForm(),
        "reassign_form": extra.pop("reassign_form", None)
        or (ReassignForm(escalation=escalation) if active else None),
        "reconcile_form": extra.pop("reconcile_form", None) or ReconcileForm(),
        # What to look for in the system of record: the call whose outcome is unknown.
        "last_attempt": (
            action.attempts.order_by("-number").first() if permitted.reconcilable else None
        ),
        "suspend_form": extra.pop("suspend_form", None) or SuspendForm(),
        "may_suspend": action.agent.state == AgentState.ACTIVE
        and may_transition(user, "suspend", action.agent),
    }
    context.update(extra)
    return context


@vary_on_headers("HX-Request")
def escalation_detail(request: HttpRequest, pk) -> HttpResponse:
    """Everything needed to decide one escalation: who, what, why, the diff, the agent's
    record, the SLA, and the decision forms."""
    escalation = _get(request, pk)
    template = DETAIL
    if htmx_partial(request):
        template += "#decision-panel"
    return render(request, template, _detail_context(request, escalation))


STATUS = {
    inbox.AlreadyDecided: 409,
    inbox.ClaimedByOther: 409,
    inbox.NotAllowed: 403,
}


def _refused(
    request: HttpRequest, escalation: Escalation, exc: inbox.InboxError, **forms_
) -> HttpResponse:
    """Show a refusal: in the fragment that asked (htmx, 200) or the detail page."""
    if isinstance(exc, inbox.OutOfScope):
        raise Http404(exc.message)
    escalation = _get(request, escalation.pk)
    if htmx_partial(request) and request.htmx.target == f"escalation-{escalation.pk}":
        return HttpResponse(rows.escalation_row(escalation, row_error=exc.message))
    context = _detail_context(
        request, escalation, error=exc.message, error_fields=exc.fields, **forms_
    )
    if htmx_partial(request):
        return render(request, DETAIL + "#decision-panel", context)
    return render(request, DETAIL, context, status=STATUS.get(type(exc), 400))


def _invalid(request: HttpRequest, escalation: Escalation, **forms_) -> HttpResponse:
    context = _detail_context(request, escalation, error="Please correct the form.", **forms_)
    if htmx_partial(request):
        return render(request, DETAIL + "#decision-panel", context)
    return render(request, DETAIL, context, status=400)


def _done(request: HttpRequest, escalation: Escalation, notice: str) -> HttpResponse:
    """The updated row or decision panel (htmx), else back to the detail page."""
    escalation = _get(request, escalation.pk)
    if htmx_partial(request):
        if request.htmx.target == f"escalation-{escalation.pk}":
            return HttpResponse(rows.escalation_row(escalation))
        return render(
            request,
            DETAIL + "#decision-panel",
            _detail_context(request, escalation, notice=notice),
        )
    messages.success(request, notice)
    return _to_detail(request, escalation.pk)


def _to_detail(request: HttpRequest, pk) -> HttpResponse:
    """Back to an escalation's page, still knowing the list it was opened from."""
    response = redirect("workflows:escalation-detail", pk=pk)
    if list_query := _list_query(request):
        response["Location"] += f"?{urlencode({'from': list_query})}"
    return response


def _post(
    request: HttpRequest,
    pk,
    act: Callable[[Escalation, dict], str],
    form_class: type[forms.Form] | None = None,
    form_name: str = "",
) -> HttpResponse:
    """One decision posted on an escalation: check its form (if any), run `act` on the
    form's data (the inbox service; it returns the notice), then show the refusal, or the
    row or panel as it now is."""
    escalation = _get(request, pk)
    shown, data = {}, {}
    if form_class is not None:
        form = form_class(request.POST)
        shown = {form_name: form}
        if not form.is_valid():
            return _invalid(request, escalation, **shown)
        data = form.cleaned_data
    try:
        notice = act(escalation, data)
    except inbox.InboxError as exc:
        return _refused(request, escalation, exc, **shown)
    return _done(request, escalation, notice)


@require_POST
def claim(request: HttpRequest, pk) -> HttpResponse:
    """Claim an open escalation."""

    def act(escalation: Escalation, data: dict) -> str:
        inbox.claim(request.user, escalation)
        return "You have claimed this escalation."

    return _post(request, pk, act)


@require_POST
def unclaim(request: HttpRequest, pk) -> HttpResponse:
    """Give a claimed escalation back to its queue."""

    def act(escalation: Escalation, data: dict) -> str:
        inbox.unclaim(request.user, escalation)
        return "The escalation is back in its queue."

    return _post(request, pk, act)


@require_POST
def approve(request: HttpRequest, pk) -> HttpResponse:
    """Approve the action as submitted; it is queued for execution."""

    def act(escalation: Escalation, data: dict) -> str:
        inbox.approve(request.user, escalation, data["note"])
        return "Approved: the action is queued for execution."

    return _post(request, pk, act, NoteForm, "approve_form")


@require_POST
def edit_and_approve(request: HttpRequest, pk) -> HttpResponse:
    """Approve an edited payload (checked against the schema and decided again)."""
    escalation = _get(request, pk)
    form = EditForm(request.POST)
    if not form.is_valid():
        return _invalid(request, escalation, edit_form=form)
    payload = form.cleaned_data["payload"]
    try:
        inbox.edit_and_approve(request.user, escalation, payload, form.cleaned_data["note"])
    except inbox.InboxError as exc:
        attempted = payload if isinstance(payload, dict) else None
        return _refused(request, escalation, exc, edit_form=form, attempted_payload=attempted)
    return _done(request, escalation, "Approved with your edits: the action is queued.")


@require_POST
def reject(request: HttpRequest, pk) -> HttpResponse:
    """Refuse the action with a reason."""

    def act(escalation: Escalation, data: dict) -> str:
        inbox.reject(request.user, escalation, data["reason"])
        return "Rejected: the agent is told why."

    return _post(request, pk, act, RejectForm, "reject_form")


@require_POST
def reassign(request: HttpRequest, pk) -> HttpResponse:
    """Move the escalation to another queue or hand it to a person; the page follows it
    there if it may."""
    escalation = _get(request, pk)
    form = ReassignForm(request.POST, escalation=escalation)
    if not form.is_valid():
        return _invalid(request, escalation, reassign_form=form)
    queue, person = form.cleaned_data["queue"], form.cleaned_data["person"]
    try:
        successor = inbox.reassign(
            request.user, escalation, queue=queue, person=person, note=form.cleaned_data["note"]
        )
    except inbox.InboxError as exc:
        return _refused(request, escalation, exc, reassign_form=form)
    if queue is not None:
        notice = f"Reassigned to {queue.name}."
    else:
        notice = f"Assigned to {person.get_username()}: only they decide it now."
    if not htmx_partial(request) and _visible(request).filter(pk=successor.pk).exists():
        messages.success(request, notice)
        return _to_detail(request, successor.pk)
    return _done(request, escalation, notice)


RECONCILED = {
    "succeeded": "Resolved: the action succeeded; the agent is told.",
    "failed": "Resolved: the action failed; the agent is told why.",
    "retry": "Resolved: the action is queued to run again with the same idempotency key.",
}


@require_POST
def reconcile(request: HttpRequest, pk) -> HttpResponse:
    """Resolve an unknown outcome after checking the system of record: it took effect
    (succeeded), it did not (failed), or it did not and runs again now."""

    def act(escalation: Escalation, data: dict) -> str:
        outcome, note = data["outcome"], data["note"]
        if outcome == "succeeded":
            inbox.reconcile_succeeded(request.user, escalation, note, data["reference"])
        elif outcome == "failed":
            inbox.reconcile_failed(request.user, escalation, note)
        else:
            inbox.reconcile_retry(request.user, escalation, note)
        return RECONCILED[outcome]

    return _post(request, pk, act, ReconcileForm, "reconcile_form")


@require_POST
def suspend_agent(request: HttpRequest, pk) -> HttpResponse:
    """Suspend the escalation's agent and cancel its queued and pending actions."""

    def act(escalation: Escalation, data: dict) -> str:
        agent = escalation.action.agent
        cancelled = inbox.suspend_agent(request.user, agent, data["note"])
        return f"{agent.name} is suspended; {cancelled} queued or pending action(s) cancelled."

    return _post(request, pk, act, SuspendForm, "suspend_form")
