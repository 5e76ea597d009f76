"""Forms for governance objects: a policy rule, validated exactly as the services validate it
(CEL errors with their line and column, federation, limits), so nothing invalid is saved.
The route is chosen from the approval queues; the SLA is typed and shown in human units."""

from django import forms
from django.apps import apps
from django.core.exceptions import ValidationError
from django.utils.html import format_html

from governance.durations import DurationField
from governance.models import PolicyVersion, Rule
from governance.policies import RULE_FIELDS, validate_rule

__all__ = [
    "ConditionWidget",
    "DurationField",
    "LevelListField",
    "RuleForm",
    "SlugListField",
    "queue_choices",
]


class SlugListField(forms.CharField):
    """A list of slugs typed as "buyer, clerk"; empty means all."""

    def prepare_value(self, value):
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value) -> list[str]:
        text = super().to_python(value) or ""
        return [part.strip() for part in text.split(",") if part.strip()]


class LevelListField(SlugListField):
    """Autonomy levels typed as "1, 2"; empty means all."""

    def to_python(self, value) -> list[int]:
        parts = super().to_python(value)
        if not all(part.isdigit() for part in parts):
            raise ValidationError("Autonomy levels are numbers from 0 to 3, such as 1, 2.")
        return [int(part) for part in parts]


def queue_choices(current: str = "") -> list[tuple[str, str]]:
    """The approval queues by slug, read through the app registry (governance imports no
    other app). A route that names no queue stays offered, marked, so opening a rule never
    changes it."""
    queue = apps.get_model("workflows", "Queue")
    choices = [("", "---------")]
    choices += [
        (slug, f"{name} ({slug})") for slug, name in queue.objects.values_list("slug", "name")
    ]
    if current and current not in {slug for slug, _ in choices}:
        choices.append((current, f"{current} (no such queue)"))
    return choices


class ConditionWidget(forms.Textarea):
    """The condition's text area, checked as you type: htmx posts the form to `check_url`
    half a second after the last key and shows the answer below; beside it, the panel of
    variables the condition may read (loaded from `variables_url` for the action pattern)."""

    def __init__(self, check_url: str = "", variables_url: str = "") -> None:
        super().__init__(attrs={"rows": 4, "cols": 80, "spellcheck": "false"})
        self.check_url = check_url
        self.variables_url = variables_url

    def render(self, name, value, attrs=None, renderer=None):
        attrs = {
            **(attrs or {}),
            "hx-post": self.check_url,
            "hx-trigger": "keyup changed delay:500ms",
            "hx-target": "#condition-check",
            "hx-swap": "innerHTML",
        }
        area = super().render(name, value, attrs, renderer)
        return format_html(
            '<div class="condition-editor">{}'
            '<div id="condition-check" class="condition-check" aria-live="polite"></div>'
            '<details class="condition-variables" open><summary>Variables</summary>'
            '<div id="condition-variables" hx-get="{}" hx-include="[name=action_pattern]" '
            'hx-trigger="load, change from:[name=action_pattern]"></div></details></div>',
            area,
            self.variables_url,
        )


class RuleForm(forms.ModelForm):
    """One rule of a draft policy version; `validate_rule` runs before anything is saved.
    `version` is the draft a new rule joins (a changed rule keeps its own)."""

    roles = SlugListField(required=False, help_text="Role slugs, comma-separated; empty = all")
    business_units = SlugListField(
        required=False, help_text="Business unit slugs, comma-separated; empty = all"
    )
    agents = SlugListField(required=False, help_text="Agent slugs, comma-separated; empty = all")
    autonomy_levels = LevelListField(
        required=False, help_text="Levels 0-3, comma-separated; empty = all"
    )
    route = forms.ChoiceField(
        required=False, help_text="The approval queue a require_approval rule asks"
    )
    sla_seconds = DurationField(
        label="SLA",
        required=False,
        help_text='How long the queue has to decide, such as "4h", "30m" or "1d"',
    )

    class Meta:
        model = Rule
        fields = [name for name in RULE_FIELDS if name != "position"]

    def __init__(
        self,
        *args,
        version: PolicyVersion | None = None,
        check_url: str = "",
        variables_url: str = "",
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        if version is not None and self.instance.version_id is None:
            self.instance.version = version
        if "route" in self.fields:  # absent when the page is read-only
            self.fields["route"].choices = queue_choices(self.instance.route)
        if "condition" in self.fields:
            self.fields["condition"].widget = ConditionWidget(check_url, variables_url)

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return  # field errors first: the rule cannot be judged as a whole yet
        try:
            validate_rule(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)
