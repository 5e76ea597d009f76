"""REST API routes of this app, mounted under /api/v1/ (before governance's, so that
`policies/decide/` is not taken for a policy slug)."""

from django.urls import path

from workflows.api.actions import ActionDetailView, SubmitActionView
from workflows.api.decisions import DecideView

app_name = "workflows-api"

urlpatterns = [
    path("policies/decide/", DecideView.as_view(), name="decide"),
    path("actions/", SubmitActionView.as_view(), name="action-submit"),
    path("actions/<uuid:action_id>/", ActionDetailView.as_view(), name="action-detail"),
]
