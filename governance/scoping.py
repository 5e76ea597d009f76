"""The one place that decides what a person or an agent may see.

Every model served to people or agents takes its manager from a `ScopedQuerySet`, and
views, viewsets, forms, filtersets and consumers build their querysets from its
`for_person(user, action)` or `for_agent(agent)` (`for_principal` where an API serves
both). Anything outside is a 404. Memberships grant guardian object permissions on
business units; COE staff (the "COE" group, or superusers) see every business unit. The
actions a person may take in a business unit are VIEW, BUILD, SUPERVISE and AUDIT. The
shared catalogue (agent roles, action types) is not scoped: every signed-in person sees it.
"""

from typing import Self

from django.apps import apps
from django.db.models import QuerySet

from autonomy.core.principals import is_agent, is_coe

__all__ = [
    "AUDIT",
    "BUILD",
    "PERMISSION",
    "SUPERVISE",
    "VIEW",
    "ScopedQuerySet",
    "has_bu_perm",
]

VIEW = "view"
BUILD = "build"
SUPERVISE = "supervise"
AUDIT = "audit"

# The guardian object permission on a business unit that each action takes.
PERMISSION = {
    VIEW: "governance.view_businessunit",
    BUILD: "governance.build_in_businessunit",
    SUPERVISE: "governance.supervise_businessunit",
    AUDIT: "governance.audit_businessunit",
}


def _business_units():
    """BusinessUnit's manager, whose `for_person` holds the rule every scoped model follows."""
    # Looked up, not imported: the models import this module for ScopedQuerySet.
    return apps.get_model("governance", "BusinessUnit").objects


def has_bu_perm(principal, action: str, business_unit_id: int | None) -> bool:
    """Whether `principal` may take `action` in that business unit."""
    if business_unit_id is None:
        return is_coe(principal)
    return _business_units().for_person(principal, action).filter(pk=business_unit_id).exists()


class ScopedQuerySet(QuerySet):
    """Rows scoped by the business unit at `unit_path` ("pk" for business units); an
    agent's rows are those whose `agent_path` is the agent. A model with another rule
    overrides `for_person` or `for_agent`; callers never filter by scope themselves."""

    unit_path = "business_unit"
    agent_path = "agent"

    def for_person(self, user, action: str = VIEW) -> Self:
        """The rows `user` may take `action` on: COE staff all of them, anyone else those
        of the business units where they may (an agent's key: its own unit's, to view)."""
        if user is not None and is_coe(user):
            return self
        units = _business_units().for_person(user, action).values("pk")
        return self.filter(**{f"{self.unit_path}__in": units})

    def for_agent(self, agent) -> Self:
        """The rows that are `agent`'s own."""
        return self.filter(**{self.agent_path: agent.pk})

    def for_principal(self, principal, action: str = VIEW) -> Self:
        """`for_agent` for an agent's key, `for_person` for anyone else."""
        if is_agent(principal):
            return self.for_agent(principal.agent)
        return self.for_person(principal, action)
