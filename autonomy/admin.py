"""The admin site is for COE staff only.

Django lets any `is_staff` user into /admin/; here only superusers and members of the
COE group (autonomy.core.principals.is_coe) get in. Everyone else sees the admin login page,
so a builder who happens to be staff is turned away like a stranger.
"""

from django.contrib import admin
from django.http import HttpRequest

from autonomy.core.principals import is_coe

__all__ = ["coe_only"]


def coe_only(request: HttpRequest) -> bool:
    """Whether the request's user may use the admin site at all."""
    return is_coe(request.user)


# autonomy/urls.py mounts admin.site, so the default site itself is narrowed.
admin.site.has_permission = coe_only
admin.site.site_header = "Autonomy OS administration"
admin.site.site_title = "Autonomy OS admin"
admin.site.index_title = "COE administration"
