"""Deny by default: every page is for signed-in people unless its view says otherwise.

Django's LoginRequiredMiddleware sends a stranger to LOGIN_URL unless the view is marked
@login_not_required: sign-in and sign-out, the probes, and the API (DRF marks its views
and refuses anonymous callers itself, DEFAULT_PERMISSION_CLASSES). The admin is left to
guard itself, as it always has: it sends strangers to its own login page, and lets in
COE staff only (autonomy.admin). tests/autonomy/test_public_routes.py lists what is public.
"""

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired

__all__ = ["LoginRequiredMiddleware"]


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's middleware, except for the admin's pages."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if "admin" in request.resolver_match.app_names:
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)
