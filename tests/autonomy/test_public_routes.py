"""Deny by default: every route is behind a login unless it is listed here as public.

Pages are guarded by Django's LoginRequiredMiddleware (autonomy.login_required) unless
their view is marked @login_not_required; API views are left to DRF, whose default
permission refuses anonymous callers unless a view names AllowAny; the admin guards itself
(its own login page, COE staff only: test_access_matrix's admin test).
"""

from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny

# Pages anyone may open: signing in and out, and the probes.
PUBLIC_PAGES = {"login", "logout", "healthz", "readyz"}
# API routes anyone may call: the API's description.
PUBLIC_API = {"api-schema", "api-docs"}


def _walk(patterns, namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = pattern.namespace or ""
            joined = f"{namespace}:{inner}" if namespace and inner else inner or namespace
            if inner == "admin":
                continue  # the admin guards itself
            yield from _walk(pattern.url_patterns, joined)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace else (pattern.name or "")
            yield name, pattern.callback


def routes() -> list[tuple[str, object]]:
    return list(_walk(get_resolver().url_patterns))


def drf_permissions(view) -> list:
    """The permission classes a DRF view (or viewset) is built with."""
    return view.initkwargs.get("permission_classes", view.cls.permission_classes)


def test_the_default_api_permission_refuses_anonymous_callers():
    assert settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] == [
        "rest_framework.permissions.IsAuthenticated"
    ]
    assert "autonomy.login_required.LoginRequiredMiddleware" in settings.MIDDLEWARE


def test_every_page_is_behind_the_login_unless_listed_as_public():
    exempt = {
        name
        for name, view in routes()
        if not hasattr(view, "cls") and not getattr(view, "login_required", True)
    }
    assert exempt == PUBLIC_PAGES


def test_every_api_route_refuses_anonymous_callers_unless_listed_as_public():
    api = [(name, view) for name, view in routes() if hasattr(view, "cls")]
    assert api, "no API routes found"
    public = {name for name, view in api if AllowAny in drf_permissions(view)}
    assert public == PUBLIC_API
    for name, view in api:
        permissions = drf_permissions(view)
        assert permissions, f"{name} has no permission classes"
        assert name in PUBLIC_API or all(p is not AllowAny for p in permissions), name
