"""REST API routes of this app, mounted under /api/v1/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from governance.api.business_units import BusinessUnitViewSet
from governance.api.ledger import LedgerVerificationViewSet, LedgerViewSet
from governance.api.policies import PolicyVersionViewSet, PolicyViewSet
from governance.api.simulation import SimulateView
from governance.api.switches import KillSwitchViewSet

app_name = "governance-api"

router = SimpleRouter()
router.register("business-units", BusinessUnitViewSet, basename="businessunit")
router.register("policies", PolicyViewSet, basename="policy")
router.register("policy-versions", PolicyVersionViewSet, basename="policyversion")

urlpatterns = [
    path("policies/<slug:slug>/simulate/", SimulateView.as_view(), name="policy-simulate"),
    *router.urls,
]

# Kill switches: list, detail, engage (POST), release.
switch_router = SimpleRouter()
switch_router.register("kill-switches", KillSwitchViewSet, basename="killswitch")
urlpatterns += switch_router.urls

# The auditor's ledger: entries (list, detail, export, verify) and verification runs.
ledger_router = SimpleRouter()
ledger_router.register(
    "ledger/verifications", LedgerVerificationViewSet, basename="ledgerverification"
)
ledger_router.register("ledger", LedgerViewSet, basename="auditentry")
urlpatterns += ledger_router.urls
