"""The home page and error pages (JSON under /api/, HTML elsewhere)."""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import Count, Q
from django.http import JsonResponse
from django.shortcuts import render
from django.views import defaults

from agents.models import Agent, AgentState
from autonomy.core.api_errors import error_body
from governance.models import BusinessUnit
from workflows import live
from workflows.models import ActionRequest


def _wants_json(request) -> bool:
    return request.path.startswith("/api/")


def home(request):
    """The signed-in person's start page: their business units and agents at a glance."""
    agent_counts = Agent.objects.for_person(request.user).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(state=AgentState.ACTIVE)),
        pending_review=Count("pk", filter=Q(state=AgentState.PENDING_REVIEW)),
        suspended=Count("pk", filter=Q(state=AgentState.SUSPENDED)),
    )
    recent_actions = live.activity_queryset(ActionRequest.objects.for_person(request.user))
    context = {
        "business_units": BusinessUnit.objects.for_person(request.user),
        "agent_counts": agent_counts,
        "recent_actions": recent_actions.order_by("-created_at")[:10],
    }
    return render(request, "autonomy/home.html", context)


def bad_request(request, exception=None):
    """Requests Django itself refuses (SuspiciousOperation, BadRequest), e.g. a body over
    DATA_UPLOAD_MAX_MEMORY_SIZE. Outside /api/: Django's page (400.html if there is one)."""
    if _wants_json(request):
        if isinstance(exception, RequestDataTooBig):
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            message = f"The request body is too large: the limit is {limit} bytes."
        else:
            message = "Bad request."
        return JsonResponse(error_body("bad_request", message), status=400)
    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return render(request, "404.html", status=404)


def forbidden(request, exception=None):
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", "Permission denied."), status=403)
    return render(request, "403.html", status=403)


def server_error(request):
    if _wants_json(request):
        return JsonResponse(error_body("server_error", "Internal server error."), status=500)
    return render(request, "500.html", status=500)
