"""Forms for governance objects: a policy rule, validated exactly as the services validate it
(CEL errors with their line and column, federation, limits), so nothing invalid is saved."""

from django import forms
from django.core.exceptions import ValidationError

from governance.models import Rule
from governance.policies import RULE_FIELDS, validate_rule

__all__ = ["LevelListField", "RuleForm", "SlugListField"]


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


class RuleForm(forms.ModelForm):
    """One rule of a draft policy version; `validate_rule` runs before anything is saved."""

    roles = SlugListField(required=False, help_text="Role slugs, comma-separated; empty = all")
    business_units = SlugListField(
        required=False, help_text="Business unit slugs, comma-separated; empty = all"
    )
    agents = SlugListField(required=False, help_text="Agent slugs, comma-separated; empty = all")
    autonomy_levels = LevelListField(
        required=False, help_text="Levels 0-3, comma-separated; empty = all"
    )

    class Meta:
        model = Rule
        fields = list(RULE_FIELDS)
        widgets = {
            "condition": forms.Textarea(attrs={"rows": 3, "cols": 80, "spellcheck": "false"}),
        }

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return  # field errors first: the rule cannot be judged as a whole yet
        try:
            validate_rule(self.instance)
        except ValidationError as exc:
            self._update_errors(exc)
