"""Root URLs: pages, the REST API under /api/v1/, its schema and docs, admin, probes."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.views.decorators.csp import csp_override
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import AllowAny

from autonomy import health, views

api_v1 = [
    # workflows first: `policies/decide/` must not be taken for a policy's slug
    path("", include("workflows.api.urls")),
    path("", include("governance.api.urls")),
    path("", include("agents.api.urls")),
]

# drf-spectacular's Swagger UI page carries one inline <style> block: allowed on that page
# only, by its hash (tests/browser/test_api_docs.py fails if an upgrade changes it).
SWAGGER_UI_STYLE = "'sha256-MMpT0iDxyjALd9PdfepImGX3DBfJPXZ4IlDWdPAgtn0='"
api_docs = csp_override(
    {**settings.SECURE_CSP, "style-src": [*settings.SECURE_CSP["style-src"], SWAGGER_UI_STYLE]}
)(SpectacularSwaggerSplitView.as_view(url_name="api-schema", permission_classes=[AllowAny]))

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("autonomy.account_urls")),
    path("agents/", include("agents.urls")),
    path("governance/", include("governance.urls")),
    path("workflows/", include("workflows.urls")),
    path("api/v1/", include(api_v1)),
    # The API's description is public; every operation it describes is not.
    path(
        "api/schema/", SpectacularAPIView.as_view(permission_classes=[AllowAny]), name="api-schema"
    ),
    path("api/docs/", api_docs, name="api-docs"),
    path("admin/", admin.site.urls),
]

handler400 = "autonomy.views.bad_request"
handler404 = "autonomy.views.not_found"
handler500 = "autonomy.views.server_error"
handler403 = "autonomy.views.forbidden"

if settings.AUTONOMY_BENCH_ENDPOINTS:
    # Baselines of bench/actions (autonomy/bench_views.py); never enabled in production.
    from autonomy import bench_views

    urlpatterns += [
        path("bench/plain/", bench_views.plain),
        path("bench/one-insert/", bench_views.OneInsertView.as_view()),
    ]
