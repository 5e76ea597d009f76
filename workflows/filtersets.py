"""One FilterSet per model, shared by the API and the htmx pages of this app.

ActionFilterSet filters `GET /api/v1/actions/`, the activity feed and an agent's actions.
EscalationFilterSet filters the inbox page (/workflows/inbox/) and `GET /api/v1/escalations/`
alike. It filters a queryset the caller has already scoped (Escalation.objects.for_person),
and its choices (queues, action types, agents) are only what the requester may see.
"""

from datetime import datetime, timedelta

import django_filters
from django import forms
from django.db.models import Case, Func, Q, QuerySet, TextField, Value, When
from django.db.models.functions import Cast
from django.utils import timezone

from agents.models import Agent
from governance.filtersets import TimeWindowForm
from governance.models import BusinessUnit
from workflows.inbox import ACTIVE
from workflows.models import (
    WORK,
    ActionRequest,
    ActionState,
    ActionType,
    Escalation,
    EscalationState,
    Queue,
)

__all__ = ["ActionFilterSet", "EscalationFilterSet", "at_risk", "overdue", "waiting"]

PRIORITIES = [("1", "P1 (high)"), ("2", "P2 (medium)"), ("3", "P3 (low)")]
STATES = [
    ("waiting", "Waiting (open, claimed)"),
    *EscalationState.choices,
    ("any", "Any state"),
]
SLA = [("at_risk", "At risk"), ("overdue", "Overdue")]
SORTS = {
    "urgency": ("priority", "sla_due_at", "pk"),
    "oldest": ("created_at", "pk"),
    "newest": ("-created_at", "-pk"),
}
SORT_CHOICES = [
    ("urgency", "Most urgent first"),
    ("oldest", "Oldest first"),
    ("newest", "Newest first"),
]


def waiting(queryset: QuerySet[Escalation]) -> QuerySet[Escalation]:
    """Escalations still waiting for a person (open or claimed)."""
    return queryset.filter(state__in=ACTIVE)


def overdue(queryset: QuerySet[Escalation], now: datetime) -> QuerySet[Escalation]:
    """Waiting escalations whose SLA has passed (the sweep has not moved them yet)."""
    return waiting(queryset).filter(sla_due_at__lte=now)


def at_risk(queryset: QuerySet[Escalation], now: datetime) -> QuerySet[Escalation]:
    """Waiting escalations not yet overdue that the SLA sweep warned about, or that are due
    within their queue's warning time (`Queue.warn_before_seconds`). The warning times are
    few (one per queue at most), so each becomes a plain comparison, on any database."""
    windows = Queue.objects.order_by().values_list("warn_before_seconds", flat=True).distinct()
    soon = Q(warned_at__isnull=False)
    for seconds in windows:
        soon |= Q(
            queue__warn_before_seconds=seconds, sla_due_at__lte=now + timedelta(seconds=seconds)
        )
    return waiting(queryset).filter(soon, sla_due_at__gt=now)


class _PayloadWithout(Func):
    """A payload's JSON text without the given (dotted) field paths: what a search may look
    into when the action type has sensitive fields, which people see only as hashes (a
    search for a value must not tell whether a hidden field holds it). PostgreSQL removes
    them with `#-`, SQLite with `json_remove`; another database searches no such payload."""

    output_field = TextField()

    def __init__(self, expression, paths: list[str]) -> None:
        super().__init__(expression)
        self.paths = [path.split(".") for path in paths]

    def as_sql(self, compiler, connection, **extra):
        return compiler.compile(Value(""))

    def as_postgresql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        params = list(params)
        for parts in self.paths:
            sql = f"({sql} #- %s::text[])"
            params.append(parts)
        return f"({sql})::text", params

    def as_sqlite(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        paths = [
            "$." + ".".join('"{}"'.format(part.replace('"', "")) for part in parts)
            for parts in self.paths
        ]
        holders = ", ".join(["%s"] * len(paths))
        return f"json_remove({sql}, {holders})", [*params, *paths]


def _searchable_payload() -> Case | Cast:
    """The payload text a search looks into: the whole payload, except the sensitive fields
    of the action types that have some."""
    plain = Cast("action__payload", TextField())
    guarded = [
        When(action__action_type_id=pk, then=_PayloadWithout("action__payload", list(paths)))
        for pk, paths in ActionType.objects.exclude(sensitive_fields=[]).values_list(
            "pk", "sensitive_fields"
        )
        if paths
    ]
    return Case(*guarded, default=plain, output_field=TextField()) if guarded else plain


def _requester(request):
    """Who asks: a person or an agent (None without a request)."""
    return getattr(request, "user", None)


def _queues(request) -> QuerySet[Queue]:
    """The queues the requester works."""
    return Queue.objects.for_person(_requester(request), WORK).order_by("name")


def _action_types(request) -> QuerySet[ActionType]:
    """The action types of escalations in the requester's queues."""
    seen = Escalation.objects.for_person(_requester(request)).values("action__action_type")
    return ActionType.objects.filter(pk__in=seen).order_by("name")


def _agents(request) -> QuerySet[Agent]:
    """The agents with escalations in the requester's queues."""
    seen = Escalation.objects.for_person(_requester(request)).values("action__agent")
    return Agent.objects.filter(pk__in=seen).order_by("name")


class EscalationFilterSet(django_filters.FilterSet):
    """Filter escalations by queue, action type, agent, priority, state, SLA (at risk or
    overdue) and assignee (`assigned=me`), search agent, action and payload (`q`), and sort
    (`sort`: urgency, oldest, newest). Without `state` every state is listed; the inbox
    page asks for `waiting` unless told otherwise."""

    q = django_filters.CharFilter(
        method="search",
        label="Search",
        max_length=200,
        help_text="Text in the agent's name or slug, the action's name or the payload "
        "(sensitive fields excepted).",
    )
    queue = django_filters.ModelChoiceFilter(
        queryset=_queues, to_field_name="slug", empty_label="Any queue", label="Queue"
    )
    action_type = django_filters.ModelChoiceFilter(
        queryset=_action_types,
        field_name="action__action_type",
        to_field_name="name",
        empty_label="Any action",
        label="Action",
    )
    agent = django_filters.ModelChoiceFilter(
        queryset=_agents,
        field_name="action__agent",
        to_field_name="slug",
        empty_label="Any agent",
        label="Agent",
    )
    priority = django_filters.ChoiceFilter(
        choices=PRIORITIES, empty_label="Any priority", label="Priority"
    )
    state = django_filters.ChoiceFilter(
        choices=STATES, method="filter_state", empty_label=None, label="State"
    )
    sla = django_filters.ChoiceFilter(
        choices=SLA, method="filter_sla", empty_label="Any due time", label="SLA"
    )
    assigned = django_filters.ChoiceFilter(
        choices=[("me", "Assigned to me")],
        method="filter_assigned",
        empty_label="Anyone",
        label="Assigned to",
    )
    sort = django_filters.ChoiceFilter(
        choices=SORT_CHOICES, method="filter_sort", empty_label=None, label="Sort"
    )

    class Meta:
        model = Escalation
        fields = [
            "q",
            "queue",
            "action_type",
            "agent",
            "priority",
            "state",
            "sla",
            "assigned",
            "sort",
        ]

    def __init__(self, *args, now: datetime | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.now = now or timezone.now()

    @property
    def qs(self):
        # Sorted most urgent first unless `sort` says otherwise (its method re-orders).
        if not hasattr(self, "_qs"):
            self.queryset = self.queryset.order_by(*SORTS["urgency"])
        return super().qs

    def search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.alias(searchable_payload=_searchable_payload()).filter(
            Q(action__agent__name__icontains=value)
            | Q(action__agent__slug__icontains=value)
            | Q(action__action_type__name__icontains=value)
            | Q(searchable_payload__icontains=value)
        )

    def filter_state(self, queryset, name, value):
        if value == "waiting":
            return waiting(queryset)
        if value in EscalationState.values:
            return queryset.filter(state=value)
        return queryset

    def filter_sla(self, queryset, name, value):
        return at_risk(queryset, self.now) if value == "at_risk" else overdue(queryset, self.now)

    def filter_assigned(self, queryset, name, value):
        user = _requester(self.request)
        return queryset.filter(assigned_to=user) if user is not None else queryset.none()

    def filter_sort(self, queryset, name, value):
        return queryset.order_by(*SORTS[value])


def _units(request) -> QuerySet[BusinessUnit]:
    """Only the business units the requester may see are offered (an agent: its own)."""
    principal = _requester(request)
    if principal is None:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.for_principal(principal).order_by("name")


def _visible_agents(request) -> QuerySet[Agent]:
    """Only the agents the requester may see: an agent itself, a person their units'."""
    principal = _requester(request)
    if principal is None or not principal.is_authenticated:
        return Agent.objects.none()
    return Agent.objects.order_by("name").for_principal(principal)


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
        queryset=_visible_agents,
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
