"""Policies: versioned sets of rules owned by the COE or by one business unit.

A rule's scope lists role, business-unit and agent slugs and autonomy levels (empty means
all). A rule with a limit (`limit_metric` set) applies its effect only when the counter it
names is over its soft (require_approval) or hard (deny) threshold. A rule's `key` stays the
same in the copies new drafts make of it, so its limit keeps counting across versions.
Decisions are recorded as DecisionRecord rows, the input of the impact preview.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from autonomy.core.history import History
from autonomy.core.principals import is_agent, is_coe
from governance.models.tenancy import BusinessUnit
from governance.scoping import VIEW, ScopedQuerySet

__all__ = [
    "DecisionRecord",
    "DecisionRecordQuerySet",
    "Effect",
    "KillSwitch",
    "KillSwitchQuerySet",
    "Policy",
    "PolicyQuerySet",
    "PolicyVersion",
    "PolicyVersionQuerySet",
    "Rule",
]


class Effect(models.TextChoices):
    ALLOW = "allow", "Allow"
    DENY = "deny", "Deny"
    REQUIRE_APPROVAL = "require_approval", "Require approval"


class PolicyQuerySet(ScopedQuerySet):
    """Policies with their business unit: COE staff see every one; anyone else the COE's
    (read-only) and those of the business units they belong to."""

    def for_person(self, user, action: str = VIEW):
        policies = self.select_related("business_unit")
        if is_coe(user):
            return policies
        units = BusinessUnit.objects.for_person(user, action).values("pk")
        return policies.filter(Q(business_unit__isnull=True) | Q(business_unit__in=units))


class PolicyVersionQuerySet(ScopedQuerySet):
    """Versions of the policies the person may see (PolicyQuerySet.for_person)."""

    def for_person(self, user, action: str = VIEW):
        return self.filter(policy__in=Policy.objects.for_person(user, action))


class KillSwitchQuerySet(ScopedQuerySet):
    """Switches with who engaged and released them: COE staff see all; other people the
    freezes of their business units and every block (blocks apply to all units); agents none."""

    def for_person(self, user, action: str = VIEW):
        rows = self.select_related("business_unit", "engaged_by", "released_by")
        if is_coe(user):
            return rows
        if user is None or not user.is_authenticated or is_agent(user):
            return rows.none()
        units = BusinessUnit.objects.for_person(user, action).values("pk")
        return rows.filter(Q(business_unit__isnull=True) | Q(business_unit__in=units))


class DecisionRecordQuerySet(ScopedQuerySet):
    """Decisions by their business unit; an agent's are those made for it."""

    agent_path = "agent_id"


class Policy(models.Model):
    """A named policy; `business_unit` empty means it belongs to the COE and applies to all."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    business_unit = models.ForeignKey(
        BusinessUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="policies"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = History()

    objects = PolicyQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "policies"

    def __str__(self) -> str:
        return self.name

    @property
    def owner(self) -> str:
        """ "coe" or the owning business unit's slug, as the decision point names owners."""
        return self.business_unit.slug if self.business_unit_id else "coe"


class PolicyVersion(models.Model):
    """One version of a policy's rules: draft → published → archived; one published at a time."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"
        ARCHIVED = "archived", "Archived"

    policy = models.ForeignKey(Policy, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.DRAFT)
    notes = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    published_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(null=True, blank=True)
    # Four eyes (settings.AUTONOMY_POLICY_FOUR_EYES): who asked for this draft to be
    # published, when, and a digest of its rules then, so an approval approves exactly
    # the rules that were asked for.
    publish_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    publish_requested_at = models.DateTimeField(null=True, blank=True)
    publish_request_digest = models.CharField(max_length=64, blank=True)
    history = History()

    objects = PolicyVersionQuerySet.as_manager()

    class Meta:
        ordering = ["policy__name", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "number"], name="unique_policy_version"),
            models.UniqueConstraint(
                fields=["policy"],
                condition=Q(state="published"),
                name="one_published_version_per_policy",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.policy} v{self.number} ({self.state})"


class Rule(models.Model):
    """One rule of a policy version (see the module docstring for scope and limits)."""

    class LimitMetric(models.TextChoices):
        NONE = "", "No limit"
        ACTIONS = "actions", "Number of actions"
        PAYLOAD_SUM = "payload_sum", "Sum of a payload field"
        SPEND = "spend", "Spend reported by the agent"
        TOKENS = "tokens", "Tokens reported by the agent"

    class LimitScope(models.TextChoices):
        AGENT = "agent", "Per agent"
        BUSINESS_UNIT = "business_unit", "Per business unit"

    class LimitWindow(models.TextChoices):
        MINUTE = "minute", "Per minute"
        HOUR = "hour", "Per hour"
        DAY = "day", "Per day"

    version = models.ForeignKey(PolicyVersion, on_delete=models.CASCADE, related_name="rules")
    # The rule's identity across versions: a new draft's copy keeps it, so a limit's
    # counters (governance.limits) go on counting when its policy is published again.
    key = models.UUIDField(default=uuid.uuid4, editable=False)
    position = models.PositiveIntegerField(default=0)
    name = models.CharField(max_length=200)
    roles = models.JSONField(default=list, blank=True, help_text="Role slugs; empty = all")
    business_units = models.JSONField(
        default=list, blank=True, help_text="Business unit slugs; empty = all"
    )
    agents = models.JSONField(default=list, blank=True, help_text="Agent slugs; empty = all")
    autonomy_levels = models.JSONField(
        default=list, blank=True, help_text="Levels 0-3; empty = all"
    )
    action_pattern = models.CharField(max_length=200, help_text="e.g. erp.purchase_order.*")
    condition = models.TextField(
        blank=True, help_text="CEL over payload, agent, action and context; empty = always"
    )
    effect = models.CharField(max_length=16, choices=Effect.choices)
    route = models.CharField(max_length=100, blank=True, help_text="Approval queue")
    sla_seconds = models.PositiveIntegerField(null=True, blank=True)
    log_only = models.BooleanField(default=False, help_text="Record the decision, do not enforce")
    reason = models.CharField(max_length=300, blank=True, help_text="Shown to agents and people")
    limit_metric = models.CharField(
        max_length=16, choices=LimitMetric.choices, blank=True, default=""
    )
    limit_scope = models.CharField(
        max_length=16, choices=LimitScope.choices, default=LimitScope.AGENT
    )
    limit_window = models.CharField(
        max_length=8, choices=LimitWindow.choices, default=LimitWindow.HOUR
    )
    limit_field = models.CharField(
        max_length=100, blank=True, help_text="Payload field summed by a payload_sum limit"
    )
    soft_limit = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    hard_limit = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    suspend_on_hard_limit = models.BooleanField(default=False)
    history = History()

    class Meta:
        ordering = ["version", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["version", "key"], name="unique_rule_key_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.effect} {self.action_pattern})"


class KillSwitch(models.Model):
    """An emergency stop: freeze a business unit or block an action pattern everywhere."""

    class Kind(models.TextChoices):
        FREEZE_BUSINESS_UNIT = "freeze_business_unit", "Freeze a business unit"
        BLOCK_ACTION = "block_action", "Block an action pattern"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    business_unit = models.ForeignKey(
        BusinessUnit, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action_pattern = models.CharField(max_length=200, blank=True)
    active = models.BooleanField(default=True, db_index=True)
    reason = models.TextField()
    engaged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    engaged_at = models.DateTimeField()
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    released_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.TextField(blank=True)
    history = History()

    objects = KillSwitchQuerySet.as_manager()

    class Meta:
        ordering = ["-engaged_at"]
        verbose_name_plural = "kill switches"

    def __str__(self) -> str:
        target = self.business_unit or self.action_pattern
        return f"{self.get_kind_display()}: {target}{'' if self.active else ' (released)'}"


class DecisionRecord(models.Model):
    """One decision as the decision point made it: its inputs (sensitive payload fields as
    salted hashes) and its outcome. Written by the gateway and by what-if checks; re-decided
    by the impact preview."""

    class Source(models.TextChoices):
        GATEWAY = "gateway", "Action gateway"
        WHAT_IF = "what_if", "What-if check"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    created_at = models.DateTimeField(db_index=True)
    source = models.CharField(max_length=8, choices=Source.choices)
    agent_id = models.BigIntegerField(null=True, blank=True)
    agent_slug = models.CharField(max_length=64)
    role = models.CharField(max_length=64)
    business_unit = models.ForeignKey(  # decision_bu_time_idx leads with it
        BusinessUnit,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    autonomy_level = models.PositiveSmallIntegerField()
    capabilities = models.JSONField(default=list, blank=True)
    granted_patterns = models.JSONField(default=list, blank=True)
    action = models.CharField(max_length=200)
    data_classification = models.CharField(max_length=32, blank=True)
    risk_tier = models.CharField(max_length=32, blank=True)
    payload = models.JSONField(default=dict, blank=True)
    payload_hash = models.CharField(max_length=64)
    context = models.JSONField(default=dict, blank=True)
    effect = models.CharField(max_length=16, choices=Effect.choices)
    shadow = models.BooleanField(default=False)
    matched = models.JSONField(default=list, blank=True)
    reasons = models.JSONField(default=list, blank=True)
    errors = models.JSONField(default=list, blank=True)
    route = models.CharField(max_length=100, blank=True)
    sla_seconds = models.PositiveIntegerField(null=True, blank=True)
    policy_version_ids = models.JSONField(default=list, blank=True)
    duration_us = models.FloatField(default=0)

    objects = DecisionRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["business_unit", "created_at"], name="decision_bu_time_idx"),
            models.Index(fields=["agent_slug", "created_at"], name="decision_agent_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.agent_slug} {self.action}: {self.effect}"
