"""Business units and people's memberships in them."""

from django.conf import settings
from django.db import models
from guardian.shortcuts import get_objects_for_user

from autonomy.core.history import History
from autonomy.core.principals import is_agent, is_coe
from governance.scoping import PERMISSION, VIEW, ScopedQuerySet

__all__ = ["BusinessUnit", "BusinessUnitQuerySet", "MemberRole", "Membership"]


class BusinessUnitQuerySet(ScopedQuerySet):
    """The business units on which someone may take an action, the rule every other scoped
    model follows: COE staff all of them; a person those where a membership grants the
    action (guardian object permissions); an agent's key its own unit, to view only."""

    def for_person(self, user, action: str = VIEW):
        if user is None or not user.is_authenticated:
            return self.none()
        if is_agent(user):
            return self.filter(pk=user.business_unit_id) if action == VIEW else self.none()
        if not user.is_active:
            return self.none()
        if is_coe(user):
            return self
        return get_objects_for_user(
            user,
            PERMISSION[action],
            klass=self,
            accept_global_perms=False,
            with_superuser=False,
        )

    def for_agent(self, agent):
        return self.filter(pk=agent.business_unit_id)


class BusinessUnit(models.Model):
    """A tenant inside the enterprise: agents, people and policies belong to one."""

    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    history = History()

    objects = BusinessUnitQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        permissions = [
            ("build_in_businessunit", "Register and manage agents in the business unit"),
            ("supervise_businessunit", "Supervise the business unit's agents"),
            ("audit_businessunit", "Read the business unit's ledger"),
        ]

    def __str__(self) -> str:
        return self.name


class MemberRole(models.TextChoices):
    BUILDER = "builder", "Builder"
    SUPERVISOR = "supervisor", "Supervisor"
    AUDITOR = "auditor", "Auditor"


class Membership(models.Model):
    """A person's role in one business unit; the object permissions follow from it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    business_unit = models.ForeignKey(
        BusinessUnit, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=MemberRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    history = History()

    class Meta:
        ordering = ["business_unit__name", "user__username", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "business_unit", "role"], name="unique_membership_role"
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} in {self.business_unit}"
