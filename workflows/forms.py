"""Forms of the workflows pages: the what-if question and the inbox's decisions."""

import json
import uuid

from django import forms
from django.contrib.auth import get_user_model
from django.forms.fields import InvalidJSONInput

from agents.models import Agent
from autonomy.core.api_parsers import json_storage_problem
from governance.models import PolicyVersion
from workflows import bulk, inbox
from workflows.models import ActionType, Escalation, Queue
from workflows.queues import reassign_targets

__all__ = [
    "BulkDecisionForm",
    "EditForm",
    "NoteForm",
    "PanelForm",
    "ReassignForm",
    "ReconcileForm",
    "RejectForm",
    "SuspendForm",
    "WhatIfForm",
]


class WhatIfForm(forms.Form):
    """Ask what the published policies (or, for COE staff, a draft in place of its policy's
    published version) would decide for an agent's action."""

    agent = forms.ModelChoiceField(queryset=Agent.objects.none(), to_field_name="slug")
    action = forms.RegexField(
        regex=r"^[a-z0-9_]+(\.[a-z0-9_]+)+$",
        max_length=200,
        widget=forms.TextInput(attrs={"list": "action-names"}),
        help_text="A dotted action name such as erp.purchase_order.create",
        error_messages={"invalid": "Use a dotted lowercase name such as crm.ticket.update."},
    )
    payload = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}),
        initial="{}",
        help_text="The payload as a JSON object",
    )

    version = forms.ModelChoiceField(
        queryset=PolicyVersion.objects.none(),
        required=False,
        label="Policies",
        empty_label="As published",
        help_text="Decide with a draft in place of its policy's published version",
    )

    def __init__(self, *args, agents, drafts=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents
        if drafts is None:
            del self.fields["version"]
        else:
            self.fields["version"].queryset = drafts
            self.fields["version"].label_from_instance = lambda version: (
                f"Draft: {version.policy.name} v{version.number}"
            )
        self.action_names = list(ActionType.objects.values_list("name", flat=True))

    def clean_payload(self) -> dict:
        try:
            value = json.loads(self.cleaned_data["payload"] or "{}")
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(
                f"Not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}."
            ) from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("The payload must be a JSON object.")
        if problem := json_storage_problem(value):
            raise forms.ValidationError(problem)
        return value


class PanelForm(forms.Form):
    """A form of the escalation page's decision panel. Several of them have a `note`, so
    each names its fields' ids after itself (`id_<panel>_<field>`): every label then points
    at its own field. The submitted names stay the fields' names."""

    panel = ""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("auto_id", f"id_{self.panel}_%s")
        super().__init__(*args, **kwargs)


class NoteForm(PanelForm):
    """Approve, with an optional note kept with the decision in the ledger."""

    panel = "approve"
    note = forms.CharField(
        required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )


class PayloadField(forms.JSONField):
    """A JSON object edited as indented JSON, keys sorted; refused, like the API's bodies,
    when it holds what cannot be stored and shown again (autonomy.core.api_parsers)."""

    def to_python(self, value):
        value = super().to_python(value)
        if problem := json_storage_problem(value):
            raise forms.ValidationError(problem, code="invalid")
        return value

    def bound_data(self, data, initial):
        value = super().bound_data(data, initial)
        if not isinstance(value, InvalidJSONInput) and json_storage_problem(value):
            return InvalidJSONInput(data)  # shown again as typed (a lone surrogate, say)
        return value

    def prepare_value(self, value):
        if isinstance(value, InvalidJSONInput):
            return value
        return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True, cls=self.encoder)


class EditForm(NoteForm):
    """The payload as the approver wants it executed (JSON); its initial value is the
    payload itself (a dict), shown as indented JSON."""

    panel = "edit"
    payload = PayloadField(
        widget=forms.Textarea(attrs={"rows": 8, "class": "mono"}),
        help_text="Sensitive fields are shown as hashes; leave a hash as it is to keep the "
        "original value.",
    )


class RejectForm(PanelForm):
    """Why the action is refused (the agent and the ledger keep it)."""

    panel = "reject"
    reason = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Give a reason to reject; the agent and the ledger keep it."},
    )


class PersonChoiceField(forms.ModelChoiceField):
    """People by username, shown with their full name when they have one."""

    def label_from_instance(self, obj) -> str:
        full_name = obj.get_full_name()
        return f"{full_name} ({obj.get_username()})" if full_name else obj.get_username()


class ReassignForm(NoteForm):
    """Another queue of the unit or a COE queue, or a person who may decide the escalation
    (workflows.inbox.assignable_people): exactly one of them."""

    panel = "reassign"
    queue = forms.ModelChoiceField(
        queryset=Queue.objects.none(),
        to_field_name="slug",
        required=False,
        label="To another queue",
        help_text="Its people decide it, within that queue's SLA.",
        error_messages={"invalid_choice": "Choose another queue of the unit, or a COE queue."},
    )
    person = PersonChoiceField(
        queryset=get_user_model().objects.none(),
        to_field_name="username",
        required=False,
        label="Or to a person",
        help_text="Only they decide it; the deadline stays.",
        error_messages={"invalid_choice": "Choose someone who may decide this escalation."},
    )

    def __init__(self, *args, escalation: Escalation, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["queue"].queryset = reassign_targets(escalation)
        self.fields["person"].queryset = inbox.assignable_people(escalation)

    def clean(self) -> dict:
        data = super().clean()
        queue, person = data.get("queue"), data.get("person")
        if self.errors.get("queue") or self.errors.get("person"):
            return data
        if queue is None and person is None:
            raise forms.ValidationError("Choose a queue or a person to reassign to.")
        if queue is not None and person is not None:
            raise forms.ValidationError("Choose a queue or a person, not both.")
        return data


class ReconcileForm(PanelForm):
    """What the person found in the system of record about an unknown outcome, and what
    becomes of the action."""

    panel = "reconcile"
    outcome = forms.ChoiceField(
        choices=[
            ("succeeded", "It took effect: mark the action succeeded"),
            ("failed", "It did not take effect: mark the action failed"),
            ("retry", "It did not take effect: run it again now"),
        ],
        widget=forms.RadioSelect,
        label="What you found",
        error_messages={"required": "Say whether the change took effect."},
    )
    note = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="What you checked",
        help_text="Kept in the ledger; when the action fails, the agent is told it.",
        error_messages={"required": "Say what you checked in the system of record."},
    )
    reference = forms.CharField(
        required=False,
        max_length=inbox.REFERENCE_MAX,
        label="Reference in the system of record",
        help_text="Optional, when it took effect (an order number, say).",
    )

    def clean(self) -> dict:
        data = super().clean()
        if data.get("reference") and data.get("outcome") not in (None, "succeeded"):
            self.add_error("reference", "A reference is kept only when the change took effect.")
        return data


class SuspendForm(PanelForm):
    """Why the agent is stopped."""

    panel = "suspend"
    note = forms.CharField(
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Why suspend the agent",
        error_messages={"required": "Say why the agent is suspended."},
    )


class UUIDListField(forms.Field):
    """Several escalation ids (checkboxes sharing one name), as distinct UUIDs in order."""

    widget = forms.MultipleHiddenInput
    default_error_messages = {
        "invalid": "Not an escalation id: %(value)s.",
        "duplicate": "An escalation is selected twice.",
        "too_many": "Select at most %(max)s escalations at once.",
    }

    def to_python(self, value) -> list[uuid.UUID]:
        values = [value] if isinstance(value, str) else list(value or [])
        ids = []
        for text in values:
            try:
                ids.append(uuid.UUID(str(text)))
            except ValueError:
                raise forms.ValidationError(
                    self.error_messages["invalid"], code="invalid", params={"value": text}
                ) from None
        return ids

    def validate(self, value) -> None:
        if not value and self.required:
            raise forms.ValidationError("Select at least one escalation.", code="required")
        if len(value) > bulk.BULK_MAX:
            raise forms.ValidationError(
                self.error_messages["too_many"], code="too_many", params={"max": bulk.BULK_MAX}
            )
        if len(set(value)) != len(value):
            raise forms.ValidationError(self.error_messages["duplicate"], code="duplicate")


class BulkDecisionForm(forms.Form):
    """Approve or reject the selected escalations with one note (the reason, to reject)."""

    ids = UUIDListField()
    decision = forms.ChoiceField(choices=[(name, name) for name in bulk.DECISIONS])
    note = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 1}),
        help_text="Kept with each decision; required to reject (the agents are told).",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("decision") == "reject" and not cleaned.get("note", "").strip():
            self.add_error("note", "Give a reason to reject; the agents and the ledger keep it.")
        return cleaned
