"""Admin bases every app's admin may build on."""

from django.contrib import admin
from django.http import HttpRequest

from autonomy.core.principals import is_coe

__all__ = ["ReadOnlyInline"]


class ReadOnlyInline(admin.TabularInline):
    """Rows shown under their parent for COE staff, each `fields` read-only; they are added
    and changed on their own page (the change link), never here."""

    extra = 0
    can_delete = False
    show_change_link = True

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return self.fields

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj=None) -> bool:
        return is_coe(request.user)
