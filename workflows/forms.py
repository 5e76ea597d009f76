"""Forms of the workflows pages."""

import json

from django import forms

from agents.models import Agent
from workflows.models import ActionType

__all__ = ["WhatIfForm"]


class WhatIfForm(forms.Form):
    """Ask what the published policies would decide for an agent's action."""

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

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents
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
        return value
