"""Durations in human units: shown as "4 h 30 min", typed as "4h 30m", stored in seconds.

Used wherever a person reads or sets an SLA or a warning time (queues, decisions), so a
page never shows "14400 s" and a form never asks for seconds.
"""

import re

from django import forms
from django.core.exceptions import ValidationError

__all__ = ["DurationField", "format_duration", "human_duration", "parse_duration"]

_UNITS = (("d", 86400), ("h", 3600), ("min", 60), ("s", 1))
_PART = re.compile(
    r"(\d+)\s*(days?|d|hours?|hrs?|h|minutes?|mins?|m|seconds?|secs?|s)\b", re.IGNORECASE
)
_SECONDS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
MAX_SECONDS = 366 * 86400


def human_duration(seconds: int | float | None, *, typed: bool = False) -> str:
    """`seconds` as days, hours, minutes and seconds ("1 d 2 h", "15 min"), or as a form
    takes it back with `typed` ("1d 2h", "15m"); "" for None."""
    if seconds is None:
        return ""
    remaining = int(seconds)
    if remaining <= 0:
        return "0s" if typed else "0 s"
    parts = []
    for unit, size in _UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count}{unit[0]}" if typed else f"{count} {unit}")
    return " ".join(parts)


def parse_duration(text: str) -> int:
    """Seconds from "4h", "90m", "1d 2h 30m", "45s" or a bare number of minutes ("30");
    ValueError with a message a form can show when it is none of these."""
    value = (text or "").strip()
    if value.isdigit():
        total = int(value) * 60
    else:
        position, total = 0, 0
        for match in _PART.finditer(value):
            if value[position : match.start()].strip(" ,"):
                break
            total += int(match.group(1)) * _SECONDS[match.group(2)[0].lower()]
            position = match.end()
        if position == 0 or value[position:].strip(" ,"):
            raise ValueError(
                "Give a duration such as 4h, 90m, 1d 2h or 45s (a bare number is minutes)."
            )
    if total <= 0 or total > MAX_SECONDS:
        raise ValueError("A duration must be more than 0 and at most 366 days.")
    return total


class DurationField(forms.Field):
    """A form field for a duration typed in human units, cleaned to whole seconds."""

    widget = forms.TextInput

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", "e.g. 4h, 90m, 1d 2h, 45s (a bare number is minutes).")
        super().__init__(**kwargs)

    def widget_attrs(self, widget) -> dict:
        return {**super().widget_attrs(widget), "maxlength": "40"}

    def prepare_value(self, value):
        return human_duration(value, typed=True) if isinstance(value, int) else value

    def to_python(self, value):
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        if len(str(value)) > 40:
            raise ValidationError("Give a shorter duration, e.g. 4h or 1d 2h.", code="invalid")
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            raise ValidationError(str(exc), code="invalid") from exc


def format_duration(seconds: int) -> str:
    """`seconds` as a form takes it back ("4h", "1h 30m", "2d")."""
    return human_duration(seconds, typed=True)
