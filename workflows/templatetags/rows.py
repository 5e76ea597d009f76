"""`{% activity_row action %}` and `{% escalation_row escalation now %}`: the rows of the
activity feed and the inbox, the same HTML the live pushes carry (workflows.rows); and
`{% priority_legend %}`, what the rows' priorities mean."""

from django import template

from workflows import rows

__all__ = ["activity_row", "escalation_row", "priority_legend"]

register = template.Library()


@register.simple_tag
def activity_row(action):
    """An action's row in the activity feed."""
    return rows.activity_row(action)


@register.simple_tag
def escalation_row(escalation, now=None):
    """An escalation's row in the inbox; `now` decides whether it shows as overdue."""
    return rows.escalation_row(escalation, now)


@register.inclusion_tag("workflows/partials/priority_legend.html")
def priority_legend():
    """What P1, P2 and P3 mean, and how rows due soon or overdue are marked."""
    return {"priorities": rows.PRIORITIES}
