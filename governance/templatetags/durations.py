"""`{{ seconds|duration }}`: a number of seconds in human units (governance.durations)."""

from django import template

from governance.durations import human_duration

__all__ = ["duration"]

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """ "4 h 30 min" for 16200; "" for None or a value that is not a number."""
    try:
        return human_duration(None if seconds in (None, "") else int(seconds))
    except (TypeError, ValueError):
        return ""
