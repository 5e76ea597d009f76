"""One FilterSet per model, shared by the API and the htmx pages of this app."""

import django_filters
from django import forms
from django.db.models import QuerySet

from agents.models import Agent
from governance.models import BusinessUnit
from governance.scoping import business_units_for, scope_for_principal
from workflows.models import ActionRequest, ActionState, ActionType

__all__ = ["ActionFilterSet"]


def _principal(request):
    return getattr(request, "user", None)


def _units(request) -> QuerySet[BusinessUnit]:
    """Only the business units the requester may see are offered (an agent: its own)."""
    principal = _principal(request)
    if principal is None:
        return BusinessUnit.objects.none()
    return business_units_for(principal).order_by("name")


def _agents(request) -> QuerySet[Agent]:
    """Only the agents the requester may see: an agent itself, a person their units'."""
    principal = _principal(request)
    if principal is None or not principal.is_authenticated:
        return Agent.objects.none()
    return scope_for_principal(Agent.objects.order_by("name"), principal, agent_field="pk")


class TimeWindowForm(forms.Form):
    """Refuses a time window that ends before it starts."""

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the window must not be before its start.")
        return cleaned


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ActionFilterSet(django_filters.FilterSet):
    """Filter action requests by business unit, agent (slug), action type (name), state
    (the outcome so far) and a window of submission times. Choices are scoped: a unit or
    an agent outside the requester's scope is refused like one that does not exist."""

    business_unit = django_filters.ModelChoiceFilter(
        queryset=_units,
        to_field_name="slug",
        label="Business unit",
        empty_label="Any",
        help_text="A business unit's slug.",
    )
    agent = django_filters.ModelChoiceFilter(
        queryset=_agents,
        to_field_name="slug",
        label="Agent",
        empty_label="Any",
        help_text="An agent's slug.",
    )
    action = django_filters.ModelChoiceFilter(
        queryset=ActionType.objects.order_by("name"),
        field_name="action_type",
        to_field_name="name",
        label="Action type",
        empty_label="Any",
        help_text="An action type's name, e.g. erp.purchase_order.create.",
    )
    state = django_filters.ChoiceFilter(
        choices=ActionState.choices,
        label="Outcome",
        empty_label="Any",
        help_text="The action's state: its outcome so far.",
    )
    since = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        label="From (UTC)",
        widget=_datetime_input(),
        help_text="ISO 8601; actions submitted at or after this time.",
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lte",
        label="To (UTC)",
        widget=_datetime_input(),
        help_text="ISO 8601; actions submitted at or before this time.",
    )

    class Meta:
        model = ActionRequest
        form = TimeWindowForm
        fields = ["business_unit", "agent", "action", "state", "since", "until"]
