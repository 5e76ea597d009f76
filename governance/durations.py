"""Durations in human units: "4h", "30m", "2d", "1h 30m", "90s" read and written.

SLAs are stored in seconds; people type and read them in days, hours, minutes and seconds.
"""

import re

__all__ = ["format_duration", "parse_duration"]

UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+)\s*([dhms])")
_WHOLE = re.compile(r"^\s*(?:\d+\s*[dhms]\s*)+$")


def parse_duration(text: str) -> int:
    """Seconds in `text`: one or more number-and-unit parts (d, h, m, s) such as "4h",
    "1h 30m" or "2d"; a bare number is refused, since its unit would be a guess.
    Raises ValueError with a sentence a form can show."""
    cleaned = text.strip().lower()
    if not _WHOLE.match(cleaned):
        raise ValueError('A duration such as "30m", "4h", "1h 30m" or "2d" (d, h, m, s).')
    seconds = sum(int(number) * UNITS[unit] for number, unit in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError("A duration must be longer than zero.")
    return seconds


def format_duration(seconds: int) -> str:
    """`seconds` in the largest units that divide it, such as "4h" or "1d 2h 30m"."""
    if seconds <= 0:
        return "0s"
    parts = []
    for unit, size in UNITS.items():
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts)
