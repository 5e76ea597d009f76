"""One FilterSet per model, shared by the API and the htmx list pages."""

import django_filters
from django.db.models import Q

from agents.models import Agent, AgentRole, AgentState, AutonomyLevel
from governance.models import BusinessUnit

__all__ = ["AgentFilterSet"]


def _units(request):
    """Only the business units the requester may see are offered as choices."""
    if request is None:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.for_person(request.user)


class AgentFilterSet(django_filters.FilterSet):
    """Filter agents by business unit, state, role and level, and search name/slug/purpose."""

    q = django_filters.CharFilter(method="search", label="Search")
    business_unit = django_filters.ModelChoiceFilter(
        queryset=_units,
        field_name="business_unit",
        to_field_name="slug",
        label="Business unit",
        empty_label="Any",
    )
    state = django_filters.ChoiceFilter(choices=AgentState.choices, empty_label="Any")
    role = django_filters.ModelChoiceFilter(
        queryset=AgentRole.objects.all(), to_field_name="slug", empty_label="Any"
    )
    autonomy_level = django_filters.ChoiceFilter(choices=AutonomyLevel.choices, empty_label="Any")

    class Meta:
        model = Agent
        fields = ["q", "business_unit", "state", "role", "autonomy_level"]

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value) | Q(slug__icontains=value) | Q(purpose__icontains=value)
        )
