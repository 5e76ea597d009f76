"""REST API routes of this app, mounted under /api/v1/."""

from rest_framework.routers import SimpleRouter

from governance.api.business_units import BusinessUnitViewSet

app_name = "governance-api"

router = SimpleRouter()
router.register("business-units", BusinessUnitViewSet, basename="businessunit")

urlpatterns = router.urls
