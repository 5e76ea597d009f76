"""Workflows pages: the what-if check of a decision."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from autonomy.core.htmx import htmx_partial
from governance.models import DecisionRecord
from workflows.api.decisions import agents_for_what_if, drafts_for_what_if, may_use_what_if
from workflows.decisions import decide_action
from workflows.forms import WhatIfForm

__all__ = ["what_if"]


def what_if(request: HttpRequest) -> HttpResponse:
    """COE staff and builders try an action of an agent against the published policies
    (COE staff also against a draft); the decision is recorded (as a what-if) and nothing
    is executed. Anyone else gets 404, as for every page outside a person's scope."""
    if not may_use_what_if(request.user):
        raise Http404("The what-if check is for COE staff and builders.")
    agents = agents_for_what_if(request.user).order_by("name")
    form = WhatIfForm(request.POST or None, agents=agents, drafts=drafts_for_what_if(request.user))
    outcome = None
    status = 200
    if request.method == "POST":
        if form.is_valid():
            outcome = decide_action(
                form.cleaned_data["agent"],
                form.cleaned_data["action"],
                form.cleaned_data["payload"],
                actor=request.user,
                source=DecisionRecord.Source.WHAT_IF,
                policy_version=form.cleaned_data.get("version"),
            )
        else:
            status = 400
    template = "workflows/what_if.html"
    if request.method == "POST" and htmx_partial(request):
        template += "#what-if-result"
    return render(
        request,
        template,
        {
            "form": form,
            "record": outcome.record if outcome else None,
            "against": form.cleaned_data.get("version") if outcome else None,
            "has_agents": agents.exists(),
        },
        status=status,
    )
