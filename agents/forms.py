"""Forms of the agent pages. Choice fields offer only what the person may choose."""

from datetime import datetime

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from agents.models import Agent, AgentRole, AutonomyLevel, validate_tags
from agents.services import level_refusal
from autonomy.core.principals import is_coe
from governance.models import BusinessUnit
from governance.scoping import BUILD

__all__ = ["AgentRegistrationForm", "IssueKeyForm", "TransitionForm", "parse_tags"]

# Path segments under /agents/ that are pages, so no agent may take them as its slug.
RESERVED_SLUGS = frozenset({"register", "review"})


def parse_tags(text: str) -> list[str]:
    """Comma-separated tags, trimmed, lowercased, without blanks or duplicates, in order."""
    tags: list[str] = []
    for part in text.split(","):
        tag = part.strip().lower()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


class AgentRegistrationForm(forms.Form):
    """A builder registers an agent in one of their own business units with a COE role.

    Only these fields are read: state, owner and keys are set by the service, never by
    the request.
    """

    slug = forms.SlugField(
        max_length=64,
        help_text="Unique identifier used in URLs and the API, e.g. invoice-matcher.",
    )
    name = forms.CharField(max_length=200)
    purpose = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="What the agent does and for whom. Reviewers read this.",
    )
    business_unit = forms.ModelChoiceField(queryset=None, empty_label=None)
    role = forms.ModelChoiceField(
        queryset=AgentRole.objects.all(),
        help_text="Defined by the COE; the list of roles shows the actions each one grants.",
    )
    capabilities = forms.CharField(
        required=False,
        help_text="Comma-separated tags used for routing work, e.g. invoices, matching.",
    )
    autonomy_level = forms.TypedChoiceField(
        choices=[("", "The role's default"), *AutonomyLevel.choices],
        coerce=int,
        empty_value=None,
        required=False,
    )

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["business_unit"].queryset = BusinessUnit.objects.for_person(user, BUILD)
        if not is_coe(user):
            self.fields["autonomy_level"].help_text = (
                "Builders register agents at L0-L2, at most at the role's level; L3 "
                "(autonomous) is granted by the COE."
            )

    def clean(self):
        cleaned = super().clean()
        role = cleaned.get("role")
        if role is not None and "autonomy_level" not in self.errors:
            refusal = level_refusal(self.user, role, cleaned.get("autonomy_level"))
            if refusal:
                self.add_error("autonomy_level", refusal)
        return cleaned

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"].lower()
        if slug in RESERVED_SLUGS:
            raise ValidationError(f"“{slug}” is reserved; choose another slug.")
        if Agent.objects.filter(slug=slug).exists():
            raise ValidationError("An agent with this slug already exists.")
        return slug

    def clean_capabilities(self) -> list[str]:
        tags = parse_tags(self.cleaned_data.get("capabilities") or "")
        validate_tags(tags)
        return tags


class IssueKeyForm(forms.Form):
    """A name for a new key and an optional expiry in the future."""

    name = forms.CharField(
        max_length=50,
        required=False,
        help_text="Where the key will be used, e.g. production worker.",
    )
    expires_at = forms.DateTimeField(
        required=False,
        label="Expires",
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty for a key that does not expire.",
    )

    def clean_expires_at(self) -> datetime | None:
        value = self.cleaned_data.get("expires_at")
        if value is not None and value <= timezone.now():
            raise ValidationError("The expiry must be in the future.")
        return value


class TransitionForm(forms.Form):
    """The note that goes into the ledger with a lifecycle transition."""

    note = forms.CharField(max_length=2000, required=False)
