"""What the navigation offers this person for the inbox."""

from django import template

from workflows.queues import may_use_inbox

__all__ = ["inbox_nav"]

register = template.Library()


@register.simple_tag(takes_context=True)
def inbox_nav(context) -> bool:
    """Whether the person works an inbox: COE staff, supervisors, holders of a queue grant."""
    return may_use_inbox(context.get("user"))
