"""One FilterSet per model, shared by the API and the htmx pages of this app."""

from datetime import UTC, datetime

import django_filters
from django import forms
from django.db.models import QuerySet

from autonomy.core.principals import is_coe
from governance.models import AuditEntry, BusinessUnit
from governance.scoping import AUDIT

__all__ = [
    "AuditEntryFilterSet",
    "LedgerSummaryFilterSet",
    "TimeWindowForm",
    "applied_filters",
    "audited_unit_filter",
    "iso_datetime_filter",
    "iso_datetime_input",
]

NO_UNIT_LABEL = "None (system and COE-wide)"


def _audited_units(request) -> QuerySet[BusinessUnit]:
    """Only the business units the requester audits are offered as choices."""
    if request is None:
        return BusinessUnit.objects.none()
    return BusinessUnit.objects.for_person(request.user, AUDIT).order_by("name")


class TimeWindowForm(forms.Form):
    """The form of a filter set with a `since`..`until` window: refuses a window that ends
    before it starts."""

    def clean(self):
        cleaned = super().clean()
        since, until = cleaned.get("since"), cleaned.get("until")
        if since and until and since > until:
            self.add_error("until", "The end of the window must not be before its start.")
        return cleaned


ISO_HELP = "Such as 2026-12-07T09:30, or 2026-12-07T09:30+01:00 with an offset."
ISO_ERROR = "Enter an ISO 8601 date and time, such as 2026-12-07T09:30 or 2026-12-07T09:30:00Z."


def iso_datetime_input() -> forms.TextInput:
    """A text input for an ISO 8601 date-time: what it shows is exactly what is applied
    (a datetime-local input shows the browser's locale format and drops offsets)."""
    return forms.TextInput(
        attrs={"placeholder": "2026-12-07T09:30", "inputmode": "numeric", "autocomplete": "off"}
    )


_EARLIEST = datetime(1, 1, 8, tzinfo=UTC)  # room for a default window before it
_LATEST = datetime(9999, 12, 31, tzinfo=UTC)


class IsoDateTimeField(django_filters.fields.IsoDateTimeField):
    """ISO 8601 only, and a moment the database can hold once turned into UTC (an offset
    near year 1 or 9999 would overflow there)."""

    def to_python(self, value):
        result = super().to_python(value)
        if result is None:
            return None
        try:
            in_range = _EARLIEST <= result.astimezone(UTC) < _LATEST
        except OverflowError:
            in_range = False
        if not in_range:
            raise forms.ValidationError(ISO_ERROR, code="invalid")
        return result


class IsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = IsoDateTimeField


def iso_datetime_filter(lookup_expr: str, label: str, help_text: str):
    """A strict ISO 8601 filter on `created_at`: anything else is a form error."""
    return IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr=lookup_expr,
        label=label,
        widget=iso_datetime_input(),
        help_text=help_text,
        error_messages={"invalid": ISO_ERROR},
    )


def audited_unit_filter() -> django_filters.ModelChoiceFilter:
    """A business unit among those the requester audits, by slug."""
    return django_filters.ModelChoiceFilter(
        queryset=_audited_units,
        field_name="business_unit",
        to_field_name="slug",
        label="Business unit",
        empty_label="Any",
        null_label=None,
    )


class AuditEntryFilterSet(django_filters.FilterSet):
    """Filter ledger entries by actor (agent slug or username), business unit, verb
    (`agent.*` for a prefix), object type and id, a time window, and text in the object."""

    actor = django_filters.CharFilter(
        method="filter_actor",
        label="Agent or actor",
        help_text="An agent's slug or a person's username (exact, any case).",
    )
    business_unit = audited_unit_filter()
    actor_kind = django_filters.ChoiceFilter(
        choices=AuditEntry.ActorKind.choices, label="Actor kind", empty_label="Any"
    )
    verb = django_filters.CharFilter(
        method="filter_verb",
        label="Verb",
        help_text="Exact, or a prefix ending in * (agent.*).",
    )
    object_type = django_filters.CharFilter(
        field_name="object_type", label="Object type", help_text="For example agents.agent."
    )
    object_id = django_filters.CharFilter(field_name="object_id", label="Object id")
    since = iso_datetime_filter("gte", "From (ISO 8601, UTC)", ISO_HELP)
    until = iso_datetime_filter("lte", "To (ISO 8601, UTC)", ISO_HELP)
    q = django_filters.CharFilter(
        field_name="object_repr",
        lookup_expr="icontains",
        label="Search",
        help_text="Text in the object's description.",
    )

    class Meta:
        model = AuditEntry
        form = TimeWindowForm
        fields = [
            "actor",
            "business_unit",
            "actor_kind",
            "verb",
            "object_type",
            "object_id",
            "since",
            "until",
            "q",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.request is not None and is_coe(self.request.user):
            # Only COE staff see entries without a business unit, so only they may ask for them.
            self.filters["business_unit"].extra["null_label"] = NO_UNIT_LABEL

    def filter_actor(self, queryset, name, value):
        value = value.strip()
        return queryset.filter(actor_name__iexact=value) if value else queryset

    def filter_verb(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        if value.endswith("*"):
            return queryset.filter(verb__startswith=value[:-1])
        return queryset.filter(verb=value)


class LedgerSummaryFilterSet(django_filters.FilterSet):
    """The time window and business unit of a decision summary (the view supplies a
    default window when either end is left empty)."""

    since = iso_datetime_filter("gte", "From (ISO 8601, UTC)", ISO_HELP)
    until = iso_datetime_filter("lte", "To (ISO 8601, UTC)", ISO_HELP)
    business_unit = audited_unit_filter()

    class Meta:
        model = AuditEntry
        form = TimeWindowForm
        fields = ["since", "until", "business_unit"]


def applied_filters(data) -> dict[str, str]:
    """The ledger filters in `data` (a query dict) as given, empty ones left out: what an
    exported bundle says it was cut with."""
    return {name: data.get(name) for name in AuditEntryFilterSet.base_filters if data.get(name)}
