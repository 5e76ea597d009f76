"""Viewsets serve only what governance.scoping.scope() lets the caller see."""

from django.db.models import QuerySet

from governance.scoping import scope

__all__ = ["ScopedQuerysetMixin"]


class ScopedQuerysetMixin:
    """Narrow `queryset` to the caller's scope, for lists, details and counts alike.

    `scope_field` names the path to the business unit ("pk" for business units).
    Rows outside scope never reach a serializer, so they are 404 on detail.
    """

    scope_field = "business_unit"

    def get_queryset(self) -> QuerySet:
        return scope(super().get_queryset(), self.request.user, field=self.scope_field)
