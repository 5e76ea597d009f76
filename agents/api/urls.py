"""REST API routes of this app, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from agents.api.agents import AgentViewSet
from agents.api.me import MeView
from agents.api.roles import AgentRoleViewSet
from agents.api.schema import AgentKeyScheme  # noqa: F401  (registers the auth scheme)

app_name = "agents-api"

router = SimpleRouter()
router.register("roles", AgentRoleViewSet, basename="agentrole")
router.register("agents", AgentViewSet, basename="agent")

urlpatterns = [path("me/", MeView.as_view(), name="me"), *router.urls]
