"""Root URLs: pages, the REST API under /api/v1/, its schema and docs, admin, probes."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from autonomy import health, views

api_v1 = [
    # workflows first: `policies/decide/` must not be taken for a policy's slug
    path("", include("workflows.api.urls")),
    path("", include("governance.api.urls")),
    path("", include("agents.api.urls")),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("accounts/", include("autonomy.account_urls")),
    path("agents/", include("agents.urls")),
    path("governance/", include("governance.urls")),
    path("workflows/", include("workflows.urls")),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="api-schema"), name="api-docs"),
    path("admin/", admin.site.urls),
]

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
