"""Template filters for durations: `{{ seconds|duration }}` reads "4h", "1h 30m"."""

from django import template

from governance.durations import format_duration

__all__ = ["duration"]

register = template.Library()


@register.filter
def duration(seconds) -> str:
    """Seconds in human units; empty for no value."""
    if seconds in (None, ""):
        return ""
    return format_duration(int(seconds))
