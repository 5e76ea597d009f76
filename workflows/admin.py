"""Django admin for COE staff: queues, action types, connectors, and what execution leaves
behind.

Queues, action types and connectors are COE standards, added and changed through the
catalogue's services (workflows/catalog.py), which record every change in the ledger. A
queue's SLA and warning time are typed and shown in human units ("4h", "15m"); who works
it is the people and groups holding `work_queue` on it. A
connector's secrets are write-only: the form has a field that replaces them and never
renders a value, the page shows only which secrets are stored (names, never values), and
neither the history nor the ledger keeps them. Connector attempts, sandbox effects and
webhook deliveries are logs: read-only, scoped to the business units of their actions.
"""

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError

from governance.admin import CoeHistoryAdmin, ReadOnlyAdmin, adopt
from governance.durations import DurationField, human_duration
from workflows import catalog
from workflows.catalog import ACTION_TYPE_FIELDS, CONNECTOR_FIELDS, QUEUE_FIELDS, secret_names
from workflows.connectors import kind_class
from workflows.models import (
    ActionType,
    Connector,
    ConnectorAttempt,
    Queue,
    SandboxEffect,
    WebhookDelivery,
)

__all__ = [
    "ActionTypeAdmin",
    "ConnectorAdmin",
    "ConnectorAttemptAdmin",
    "ConnectorForm",
    "QueueAdmin",
    "QueueForm",
    "SandboxEffectAdmin",
    "WebhookDeliveryAdmin",
]


def _changed(obj, form, names: tuple[str, ...]) -> dict:
    """The form's changed fields (among `names`) with the values it put on `obj`."""
    return {name: getattr(obj, name) for name in form.changed_data if name in names}


class WriteOnlyTextarea(forms.Textarea):
    """A textarea that never renders a value, not even the one just submitted."""

    def format_value(self, value):
        return ""


class ConnectorForm(forms.ModelForm):
    """The connector's settings, checked by its kind, and write-only secrets."""

    new_secrets = forms.JSONField(
        required=False,
        label="Set secrets",
        widget=WriteOnlyTextarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text=(
            'Write-only. Replaces every stored secret, e.g. {"headers": {"Authorization": '
            '"Bearer …"}} (http) or {"signing_secret": "whsec_…"} (webhook). Leave empty to '
            "keep the stored ones; they are never shown again."
        ),
    )
    clear_secrets = forms.BooleanField(required=False, help_text="Remove every stored secret.")

    class Meta:
        model = Connector
        fields = CONNECTOR_FIELDS

    def clean_new_secrets(self):
        value = self.cleaned_data.get("new_secrets")
        if value in (None, "", {}):
            return None
        if not isinstance(value, dict):
            raise ValidationError("Secrets must be a JSON object.")
        return value

    def secrets_to_store(self) -> dict | None:
        """The secrets the save will store, or None to keep the stored ones."""
        if self.cleaned_data.get("clear_secrets"):
            return {}
        return self.cleaned_data.get("new_secrets")

    def clean(self):
        cleaned = super().clean()
        kind, config = cleaned.get("kind"), cleaned.get("config")
        if config is not None and not isinstance(config, dict):
            self.add_error("config", "The configuration must be a JSON object.")
        elif kind and config is not None:
            secrets = self.secrets_to_store()
            if secrets is None:
                secrets = self.instance.secrets if self.instance.pk else {}
            errors = kind_class(kind).config_errors(config, secrets or {})
            if errors:
                raise ValidationError(errors)
        return cleaned


@admin.register(Connector)
class ConnectorAdmin(CoeHistoryAdmin):
    """Connectors; disabled ones say why (a permanent error may have disabled them)."""

    form = ConnectorForm
    list_display = ("name", "slug", "kind", "enabled", "disabled_reason", "stored_secrets")
    list_filter = ("kind", "enabled")
    search_fields = ("name", "slug")
    readonly_fields = ("stored_secrets",)
    fieldsets = (
        (None, {"fields": ("slug", "name", "kind", "config")}),
        ("Secrets", {"fields": ("stored_secrets", "new_secrets", "clear_secrets")}),
        (
            "Failures",
            {
                "fields": (
                    "enabled",
                    "disabled_reason",
                    "disable_on_permanent_error",
                    "max_attempts",
                )
            },
        ),
    )

    @admin.display(description="stored secrets")
    def stored_secrets(self, connector: Connector) -> str:
        return secret_names(connector.secrets)

    def save_model(self, request, obj, form, change):
        secrets = form.secrets_to_store()
        if change:
            fields = _changed(obj, form, CONNECTOR_FIELDS)
            saved = catalog.update_connector(
                request.user, obj, secrets=secrets, via="admin", **fields
            )
        else:
            fields = {name: getattr(obj, name) for name in CONNECTOR_FIELDS}
            saved = catalog.create_connector(request.user, secrets=secrets, via="admin", **fields)
        adopt(obj, saved)


@admin.register(ActionType)
class ActionTypeAdmin(CoeHistoryAdmin):
    """Action types; the payload schema must be a valid JSON Schema to be saved."""

    list_display = ("name", "title", "kind", "risk_tier", "data_classification", "connector")
    list_filter = ("kind", "risk_tier", "data_classification", "connector")
    search_fields = ("name", "title", "description")
    list_select_related = ("connector",)
    fields = ACTION_TYPE_FIELDS

    def save_model(self, request, obj, form, change):
        if change:
            fields = _changed(obj, form, ACTION_TYPE_FIELDS)
            saved = catalog.update_action_type(request.user, obj, via="admin", **fields)
        else:
            fields = {name: getattr(obj, name) for name in ACTION_TYPE_FIELDS}
            saved = catalog.create_action_type(request.user, via="admin", **fields)
        adopt(obj, saved)


class QueueForm(forms.ModelForm):
    """A queue's settings with durations in human units, and who works it."""

    sla_seconds = DurationField(
        label="SLA", help_text="Time to decide, e.g. 4h, 30m, 1d (a bare number is minutes)."
    )
    warn_before_seconds = DurationField(
        label="Warn before",
        help_text="How long before the SLA runs out the queue is warned, e.g. 15m.",
    )
    workers = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True).order_by("username"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text="People who may claim and decide its escalations, besides COE staff and "
        "(for a unit's queue) the unit's supervisors; for a unit's queue they must also be "
        "members of the unit.",
    )
    worker_groups = forms.ModelMultipleChoiceField(
        queryset=Group.objects.order_by("name"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 5}),
        help_text="Groups whose members may work it (same conditions).",
    )

    class Meta:
        model = Queue
        fields = QUEUE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            users, groups = catalog.workers_of(self.instance)
            self.fields["workers"].initial = users
            self.fields["worker_groups"].initial = groups
            # A queue may not escalate to itself.
            self.fields["parent"].queryset = Queue.objects.exclude(pk=self.instance.pk)

    def _post_clean(self):
        super()._post_clean()
        if not self.errors:
            # The service's checks (warning before the SLA, the escalation chain), shown
            # as form errors; the service runs them again on the locked row.
            try:
                catalog.check_queue(self.instance)
            except ValidationError as exc:
                self._update_errors(exc)


@admin.register(Queue)
class QueueAdmin(CoeHistoryAdmin):
    """Queues: where escalations wait, their SLA, where they go at expiry, who works them."""

    form = QueueForm
    list_display = ("name", "slug", "business_unit", "parent", "sla", "warn_before")
    list_filter = ("business_unit",)
    search_fields = ("name", "slug")
    list_select_related = ("business_unit", "parent")
    fieldsets = (
        (None, {"fields": ("slug", "name", "business_unit")}),
        ("Deadlines", {"fields": ("sla_seconds", "warn_before_seconds", "parent")}),
        ("Who works it", {"fields": ("workers", "worker_groups")}),
    )

    @admin.display(description="SLA", ordering="sla_seconds")
    def sla(self, queue: Queue) -> str:
        return human_duration(queue.sla_seconds)

    @admin.display(description="warn before", ordering="warn_before_seconds")
    def warn_before(self, queue: Queue) -> str:
        return human_duration(queue.warn_before_seconds)

    def save_model(self, request, obj, form, change):
        grants = {
            "workers": form.cleaned_data.get("workers"),
            "worker_groups": form.cleaned_data.get("worker_groups"),
        }
        if change:
            fields = _changed(obj, form, QUEUE_FIELDS)
            saved = catalog.update_queue(request.user, obj, via="admin", **grants, **fields)
        else:
            fields = {name: getattr(obj, name) for name in QUEUE_FIELDS}
            saved = catalog.create_queue(request.user, via="admin", **grants, **fields)
        adopt(obj, saved)

    def save_related(self, request, form, formsets, change):
        """The grants were saved with the queue (catalog); the form has no m2m of its own."""


@admin.register(ConnectorAttempt)
class ConnectorAttemptAdmin(ReadOnlyAdmin):
    list_display = (
        "started_at",
        "action",
        "number",
        "connector",
        "outcome",
        "status_code",
        "target",
        "finished_at",
    )
    list_filter = ("outcome", "connector")
    search_fields = ("action__id", "idempotency_key", "target", "error")
    list_select_related = ("connector", "action")
    date_hierarchy = "started_at"


@admin.register(SandboxEffect)
class SandboxEffectAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "agent_slug", "action_name", "business_unit", "connector")
    list_filter = ("business_unit", "action_name")
    search_fields = ("agent_slug", "action_name", "action__id")
    list_select_related = ("business_unit", "connector")
    date_hierarchy = "created_at"


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "event",
        "url",
        "state",
        "attempt_count",
        "last_status_code",
        "delivered_at",
    )
    list_filter = ("state", "event")
    search_fields = ("url", "action__id", "last_error")
    date_hierarchy = "created_at"
