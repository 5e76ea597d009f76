"""Agent roles (defined by the COE), agents and their API keys."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from autonomy.core.history import History
from governance.scoping import ScopedQuerySet

__all__ = [
    "Agent",
    "AgentAPIKey",
    "AgentAPIKeyQuerySet",
    "AgentQuerySet",
    "AgentRole",
    "AgentState",
    "AutonomyLevel",
]

ACTION_PATTERN = RegexValidator(
    r"^[a-z0-9_]+(\.([a-z0-9_]+|\*))*(\.\*)?$|^\*$",
    "Use dotted lowercase names, optionally ending in .* (for example crm.opportunity.*).",
)


# Agent slugs that would shadow pages under /agents/.
RESERVED_SLUGS = frozenset({"register", "review"})


def validate_agent_slug(value: str) -> None:
    """Refuse slugs that clash with the agents pages."""
    if value in RESERVED_SLUGS:
        raise ValidationError(f"{value!r} is reserved; choose another slug.")


def validate_action_patterns(value) -> None:
    """A list of dotted action patterns such as `crm.opportunity.*`."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Give a list of action patterns.")
    for item in value:
        ACTION_PATTERN(item)


TAG_MAX = 64


def validate_tags(value) -> None:
    """A list of short lowercase tags."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError("Give a list of tags.")
    for item in value:
        if len(item) > TAG_MAX:
            raise ValidationError(f"{item[:20]!r}… is too long for a tag (at most {TAG_MAX}).")
        if not item or not item.replace("-", "").replace("_", "").isalnum():
            raise ValidationError(f"{item!r} is not a tag (letters, digits, - and _).")


class AutonomyLevel(models.IntegerChoices):
    L0 = 0, "L0 shadow"
    L1 = 1, "L1 supervised"
    L2 = 2, "L2 guarded"
    L3 = 3, "L3 autonomous"


class DataClassification(models.TextChoices):
    PUBLIC = "public", "Public"
    INTERNAL = "internal", "Internal"
    CONFIDENTIAL = "confidential", "Confidential"
    RESTRICTED = "restricted", "Restricted"


class AgentRole(models.Model):
    """What kind of work an agent may do: the action patterns and data it is granted."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    action_patterns = models.JSONField(default=list, validators=[validate_action_patterns])
    data_classifications = models.JSONField(default=list, blank=True)
    default_autonomy_level = models.IntegerField(
        choices=AutonomyLevel.choices, default=AutonomyLevel.L1
    )
    default_limits = models.JSONField(default=dict, blank=True)
    history = History()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        allowed = set(DataClassification.values)
        unknown = [c for c in self.data_classifications or [] if c not in allowed]
        if unknown:
            raise ValidationError({"data_classifications": f"Unknown: {', '.join(unknown)}"})
        if not isinstance(self.default_limits, dict):
            raise ValidationError({"default_limits": "Give an object of limits."})


class AgentState(models.TextChoices):
    DRAFT = "draft", "Draft"
    PENDING_REVIEW = "pending_review", "Pending review"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    RETIRED = "retired", "Retired"


class AgentQuerySet(ScopedQuerySet):
    """Agents by their business unit; an agent sees only itself."""

    agent_path = "pk"


class Agent(models.Model):
    """An AI agent with an identity, a role, a business unit and a human owner.

    Its state only changes through agents.services.transition().
    """

    slug = models.SlugField(max_length=64, unique=True, validators=[validate_agent_slug])
    name = models.CharField(max_length=200)
    purpose = models.TextField()
    business_unit = models.ForeignKey(
        "governance.BusinessUnit", on_delete=models.PROTECT, related_name="agents"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_agents"
    )
    role = models.ForeignKey(AgentRole, on_delete=models.PROTECT, related_name="agents")
    capabilities = models.JSONField(default=list, blank=True, validators=[validate_tags])
    autonomy_level = models.IntegerField(choices=AutonomyLevel.choices, default=AutonomyLevel.L1)
    state = models.CharField(
        max_length=16, choices=AgentState.choices, default=AgentState.DRAFT, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    history = History()

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class AgentAPIKeyQuerySet(ScopedQuerySet):
    """Keys by their agent's business unit; an agent sees its own."""

    unit_path = "agent__business_unit"


class AgentAPIKeyManager(BaseAPIKeyManager.from_queryset(AgentAPIKeyQuerySet)):
    pass


class AgentAPIKey(AbstractAPIKey):
    """A hashed credential of one agent; several may be live at once for rotation."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="api_keys")
    created_by = models.CharField(max_length=200, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = AgentAPIKeyManager()

    class Meta(AbstractAPIKey.Meta):
        verbose_name = "agent API key"
        verbose_name_plural = "agent API keys"
        ordering = ["-created"]
