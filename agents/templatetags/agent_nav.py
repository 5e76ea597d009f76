"""What the navigation offers this person for agents: registration and the review queue."""

from django import template

from agents.models import Agent, AgentState
from autonomy.core.principals import is_coe
from governance.models import BusinessUnit
from governance.scoping import BUILD

__all__ = ["agent_nav"]

register = template.Library()


@register.simple_tag(takes_context=True)
def agent_nav(context) -> dict:
    """Whether the person may register agents, and (COE only) how many await review."""
    user = context.get("user")
    if user is None or not user.is_authenticated:
        return {"can_register": False, "pending_review": None}
    coe = is_coe(user)
    return {
        "can_register": coe or BusinessUnit.objects.for_person(user, BUILD).exists(),
        "pending_review": (
            Agent.objects.filter(state=AgentState.PENDING_REVIEW).count() if coe else None
        ),
    }
