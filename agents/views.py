"""Agent pages: list, detail with keys and lifecycle, registration, COE review queue.

Every agent a page shows or changes comes from `Agent.objects.for_person()`; anything
outside is a 404.
State changes go through agents.services, which decide who may act.
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from agents import review, services
from agents.filtersets import AgentFilterSet
from agents.forms import AgentRegistrationForm, IssueKeyForm, TransitionForm
from agents.models import Agent, AgentAPIKey, AgentState
from autonomy.core.htmx import htmx_partial
from autonomy.core.principals import is_coe
from governance.models import AuditEntry, BusinessUnit
from governance.scoping import BUILD

__all__ = [
    "agent_detail",
    "agent_list",
    "issue_key",
    "register",
    "review_queue",
    "revoke_key",
    "run_transition",
]

PAGE_SIZE = 25
ACTIONS_PAGE_SIZE = 10
LEDGER_LIMIT = 50
HISTORY_LIMIT = 50


def _visible_agents(request: HttpRequest) -> QuerySet[Agent]:
    return Agent.objects.select_related("business_unit", "role", "owner").for_person(request.user)


def _get_agent(request: HttpRequest, slug: str) -> Agent:
    return get_object_or_404(_visible_agents(request), slug=slug)


@vary_on_headers("HX-Request")
def agent_list(request: HttpRequest) -> HttpResponse:
    """The agents this person may see, filtered, searched and paginated."""
    filterset = AgentFilterSet(
        request.GET or None, queryset=_visible_agents(request), request=request
    )
    page = Paginator(filterset.qs, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {
        "filterset": filterset,
        "page": page,
        "agents": page.object_list,
        "can_register": is_coe(request.user)
        or BusinessUnit.objects.for_person(request.user, BUILD).exists(),
    }
    template = "agents/agent_list.html"
    if htmx_partial(request):
        template += "#agent-table"
    return render(request, template, context)


def _history_rows(agent: Agent) -> list[dict]:
    """History records newest first, each with the fields it changed from the one before."""
    records = list(agent.history.select_related("history_user")[: HISTORY_LIMIT + 1])
    rows = []
    for record, older in zip(records, [*records[1:], None], strict=True):
        changes = []
        if older is not None:
            # The timestamp moves with every state change; the state itself says enough.
            changes = record.diff_against(older, excluded_fields=["state_changed_at"]).changes
        rows.append({"record": record, "changes": changes})
    return rows[:HISTORY_LIMIT]


def _details(data: dict) -> list[tuple[str, str]]:
    """An entry's data as short name/value texts for a table cell, empty values left out."""
    details = []
    for name, value in data.items():
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        details.append((name.replace("_", " "), str(value)))
    return details


def _ledger_entries(agent: Agent) -> list[AuditEntry]:
    """The agent's ledger entries, newest first, with their seals and readable details."""
    entries = list(
        AuditEntry.objects.filter(object_type="agents.agent", object_id=str(agent.pk))
        .select_related("seal")
        .order_by("-id")[:LEDGER_LIMIT]
    )
    for entry in entries:
        entry.details = _details(entry.data)
    return entries


def _recent_actions(request: HttpRequest, agent: Agent):
    """A page of the agent's actions, newest first (`?actions_page=`), scoped like the
    agent. Actions belong to workflows, above this app: reached through the relation."""
    actions = (
        agent.actions.select_related("action_type", "decision")
        .order_by("-created_at", "-pk")
        .for_person(request.user)
    )
    return Paginator(actions, ACTIONS_PAGE_SIZE).get_page(request.GET.get("actions_page"))


def _detail_context(request: HttpRequest, agent: Agent, **extra) -> dict:
    user = request.user
    can_manage_keys = services.may_manage_keys(user, agent)
    context = {
        "agent": agent,
        "keys": agent.api_keys.all(),
        "can_manage_keys": can_manage_keys,
        "can_issue_key": can_manage_keys and agent.state != AgentState.RETIRED,
        "key_form": IssueKeyForm(),
        "transitions": services.available_transitions(user, agent),
        "history": _history_rows(agent),
        "ledger": _ledger_entries(agent),
        "actions": _recent_actions(request, agent),
    }
    context.update(extra)
    return context


@vary_on_headers("HX-Request", "HX-Target")
def agent_detail(request: HttpRequest, slug: str) -> HttpResponse:
    """One agent: identity, keys, lifecycle actions, its recent actions (htmx pages through
    them alone), history and ledger entries."""
    agent = _get_agent(request, slug)
    template = "agents/agent_detail.html"
    if htmx_partial(request) and request.htmx.target == "agent-actions":
        template += "#agent-actions"
    return render(request, template, _detail_context(request, agent))


def _keys_response(request: HttpRequest, agent: Agent, status: int = 200, **extra) -> HttpResponse:
    """The keys card (htmx, with the ledger card swapped out of band) or the whole detail
    page; never cached, since it may hold a secret."""
    template = "agents/agent_detail.html"
    if htmx_partial(request):
        template += "#keys"
        extra["ledger_oob"] = True
        status = 200  # htmx swaps only 2xx answers; the card itself shows the error
    response = render(request, template, _detail_context(request, agent, **extra), status=status)
    add_never_cache_headers(response)
    return response


@require_POST
def issue_key(request: HttpRequest, slug: str) -> HttpResponse:
    """Issue a key and show its secret in this response only."""
    agent = _get_agent(request, slug)
    form = IssueKeyForm(request.POST)
    if not form.is_valid():
        return _keys_response(request, agent, status=400, key_form=form)
    try:
        key, secret = services.issue_key(
            request.user,
            agent,
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
        )
    except services.NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except services.InvalidTransition as exc:
        return _keys_response(request, agent, status=400, key_error=str(exc))
    return _keys_response(request, agent, new_key=key, new_secret=secret)


@require_POST
def revoke_key(request: HttpRequest, slug: str, prefix: str) -> HttpResponse:
    """Revoke one of the agent's keys; the next request with it is refused."""
    agent = _get_agent(request, slug)
    key = get_object_or_404(AgentAPIKey.objects.select_related("agent"), agent=agent, prefix=prefix)
    try:
        services.revoke_key(request.user, key)
    except services.NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except services.InvalidTransition as exc:
        if htmx_partial(request):
            return _keys_response(request, agent, key_error=str(exc))
        messages.error(request, str(exc))
        return redirect(agent_url(agent))
    if htmx_partial(request):
        return _keys_response(request, agent, key_notice=f"Key {key.prefix} revoked.")
    messages.success(request, f"Key {key.prefix} revoked.")
    return redirect(agent_url(agent))


def agent_url(agent: Agent) -> str:
    return reverse("agents:detail", args=[agent.slug])


def _next_url(request: HttpRequest, default: str) -> str:
    """Where to go after a POST: the page's `next` if it is ours, else `default`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@require_POST
def run_transition(request: HttpRequest, slug: str, name: str) -> HttpResponse:
    """Run one lifecycle transition; a refused one changes nothing and says why."""
    agent = _get_agent(request, slug)
    if name not in services.TRANSITIONS:
        raise Http404("No such transition.")
    form = TransitionForm(request.POST)
    back = _next_url(request, agent_url(agent))
    if not form.is_valid():
        messages.error(request, "; ".join(form.errors.get("note", ["Invalid note."])))
        return redirect(back)
    try:
        services.transition(request.user, agent, name, note=form.cleaned_data["note"])
    except services.NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    except services.InvalidTransition as exc:
        messages.error(request, str(exc))
        return redirect(back)
    messages.success(request, f"{agent.name} is now {agent.get_state_display().lower()}.")
    return redirect(back)


def register(request: HttpRequest) -> HttpResponse:
    """The registration form; the new agent waits in the COE's review queue."""
    units = BusinessUnit.objects.for_person(request.user, BUILD)
    if not units.exists():
        return render(request, "agents/agent_register.html", {"form": None})
    form = AgentRegistrationForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            agent = services.register_agent(
                request.user,
                slug=data["slug"],
                name=data["name"],
                purpose=data["purpose"],
                business_unit=data["business_unit"],
                role=data["role"],
                capabilities=data["capabilities"],
                autonomy_level=data["autonomy_level"],
            )
        except services.NotAllowed as exc:
            raise PermissionDenied(str(exc)) from exc
        except services.LevelNotAllowed as exc:
            form.add_error("autonomy_level", str(exc))
        except IntegrityError:
            # Another registration took the slug between validation and insert.
            form.add_error("slug", "An agent with this slug already exists.")
        else:
            messages.success(
                request, f"{agent.name} was submitted for review by the Centre of Excellence."
            )
            return redirect(agent_url(agent))
    status = 400 if form.is_bound else 200
    return render(
        request,
        "agents/agent_register.html",
        {"form": form, "roles": form.fields["role"].queryset},
        status=status,
    )


def review_queue(request: HttpRequest) -> HttpResponse:
    """Agents awaiting the COE's approval, oldest request first, each with what the COE
    needs to decide (agents.review): its owner, its role's grants, the riskiest action
    types they reach and, after a spell at L0, its shadow results (COE only)."""
    if not is_coe(request.user):
        raise Http404("Not found.")
    pending = list(
        _visible_agents(request)
        .filter(state=AgentState.PENDING_REVIEW)
        .order_by("state_changed_at", "pk")
    )
    reach_by_role: dict = {}
    for agent in pending:
        agent.review = review.review_of(agent, reach_by_role)
    return render(request, "agents/review_queue.html", {"agents": pending})
