"""Template filters for the Bootstrap colour classes that pages give values:
`<span class="badge {{ rule.effect|effect_badge }}">`."""

from django import template

__all__ = ["effect_badge", "priority_badge", "risk_badge", "transition_button", "version_badge"]

register = template.Library()


@register.filter
def effect_badge(effect) -> str:
    """A decision's effect: allow green, deny red, anything else (approval) amber."""
    if effect == "allow":
        return "text-bg-success"
    return "text-bg-danger" if effect == "deny" else "text-bg-warning"


@register.filter
def risk_badge(tier) -> str:
    """An action type's risk tier: critical and high red, medium amber, low light."""
    if tier in ("critical", "high"):
        return "text-bg-danger"
    return "text-bg-warning" if tier == "medium" else "text-bg-light border"


@register.filter
def priority_badge(level) -> str:
    """An escalation's priority: P1 red, P2 amber, the rest light."""
    if level == 1:
        return "text-bg-danger"
    return "text-bg-warning" if level == 2 else "text-bg-light border"


@register.filter
def version_badge(state) -> str:
    """A policy version's state: published green, draft amber, archived light."""
    if state == "published":
        return "text-bg-success"
    return "text-bg-warning" if state == "draft" else "text-bg-light"


@register.filter
def transition_button(name) -> str:
    """The button of an agent's lifecycle transition: retire outlined red, suspend and
    reject amber, approve and resume green, the others blue."""
    if name == "retire":
        return "btn-outline-danger"
    if name in ("suspend", "reject"):
        return "btn-warning"
    return "btn-success" if name in ("approve", "resume") else "btn-primary"
