"""REST API routes of this app, mounted under /api/v1/ (before governance's, so that
`policies/decide/` is not taken for a policy slug)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from workflows.api.actions import ActionDetailView, ActionsView
from workflows.api.decisions import DecideView
from workflows.api.escalations import EscalationViewSet
from workflows.api.queues import QueueViewSet

app_name = "workflows-api"

router = SimpleRouter()
router.register("escalations", EscalationViewSet, basename="escalation")
router.register("queues", QueueViewSet, basename="queue")

urlpatterns = [
    path("policies/decide/", DecideView.as_view(), name="decide"),
    path("actions/", ActionsView.as_view(), name="action-list"),
    path("actions/<uuid:action_id>/", ActionDetailView.as_view(), name="action-detail"),
    *router.urls,
]
