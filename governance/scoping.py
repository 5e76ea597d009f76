"""The one place that decides what a person or an agent may see.

Every queryset that serves a person or an agent is built from `scope()`: lists,
details, counts, form choice fields and the admin. Anything outside is a 404.
Memberships grant guardian object permissions on business units; COE staff (the
"COE" group, or superusers) see every business unit.
"""

from django.db.models import QuerySet
from guardian.shortcuts import get_objects_for_user

from autonomy.core.principals import is_agent, is_coe
from governance.models import BusinessUnit, MemberRole

__all__ = [
    "PERMS",
    "business_units_for",
    "has_bu_perm",
    "scope",
    "scope_for_principal",
]

VIEW = "governance.view_businessunit"
BUILD = "governance.build_in_businessunit"
SUPERVISE = "governance.supervise_businessunit"
AUDIT = "governance.audit_businessunit"

# The object permissions a membership role grants on its business unit.
PERMS = {
    MemberRole.BUILDER: [VIEW, BUILD],
    MemberRole.SUPERVISOR: [VIEW, SUPERVISE],
    MemberRole.AUDITOR: [VIEW, AUDIT],
}


def business_units_for(principal, perm: str = VIEW) -> QuerySet[BusinessUnit]:
    """The business units on which `principal` holds `perm` (an agent: only its own, to view)."""
    if principal is None or not principal.is_authenticated:
        return BusinessUnit.objects.none()
    if is_agent(principal):
        if perm != VIEW:
            return BusinessUnit.objects.none()
        return BusinessUnit.objects.filter(pk=principal.business_unit_id)
    if not principal.is_active:
        return BusinessUnit.objects.none()
    if is_coe(principal):
        return BusinessUnit.objects.all()
    return get_objects_for_user(
        principal, perm, klass=BusinessUnit, accept_global_perms=False, with_superuser=False
    )


def has_bu_perm(principal, perm: str, business_unit_id: int | None) -> bool:
    """Whether `principal` holds `perm` on that business unit."""
    if business_unit_id is None:
        return is_coe(principal)
    return business_units_for(principal, perm).filter(pk=business_unit_id).exists()


def scope(
    queryset: QuerySet, principal, perm: str = VIEW, field: str = "business_unit"
) -> QuerySet:
    """`queryset` narrowed to the rows `principal` may see through `field`'s business unit."""
    if principal is not None and is_coe(principal):
        return queryset
    if field == "pk" and queryset.model is BusinessUnit:
        return queryset.filter(pk__in=business_units_for(principal, perm).values("pk"))
    return queryset.filter(**{f"{field}__in": business_units_for(principal, perm).values("pk")})


def scope_for_principal(queryset: QuerySet, principal, agent_field: str = "agent") -> QuerySet:
    """`queryset` as `principal` may see it: an agent only the rows that are its own (whose
    `agent_field` is the agent; "pk" for agents themselves), a person scope()'s."""
    if is_agent(principal):
        return queryset.filter(**{agent_field: principal.agent.pk})
    return scope(queryset, principal)
