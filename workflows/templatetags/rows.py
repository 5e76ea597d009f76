"""`{% activity_row action %}` and `{% escalation_row escalation now %}`: the rows of the
activity feed and the inbox, the same HTML the live pushes carry (workflows.rows)."""

from django import template

from workflows import rows

__all__ = ["activity_row", "escalation_row"]

register = template.Library()


@register.simple_tag
def activity_row(action):
    """An action's row in the activity feed."""
    return rows.activity_row(action)


@register.simple_tag
def escalation_row(escalation, now=None):
    """An escalation's row in the inbox; `now` decides whether it shows as overdue."""
    return rows.escalation_row(escalation, now)
