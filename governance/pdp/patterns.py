"""Dotted action patterns such as `erp.purchase_order.*`: validation and matching.

A pattern is `*` (every action) or dotted segments, each a literal or `*`. A `*` segment in
the middle matches exactly one segment; a trailing `*` matches one or more, so
`erp.*` matches `erp.invoice.pay` but not `erp` itself.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["is_valid_pattern", "literal_prefix", "pattern_matches"]

# Same grammar as agents.models.ACTION_PATTERN (governance may not import agents).
_PATTERN = re.compile(r"^[a-z0-9_]+(\.([a-z0-9_]+|\*))*(\.\*)?$|^\*$")


def is_valid_pattern(pattern: str) -> bool:
    """True when `pattern` is `*` or dotted lowercase segments with optional `*` segments."""
    return bool(_PATTERN.match(pattern))


def literal_prefix(pattern: str) -> tuple[str, ...] | None:
    """The literal segments before the first `*`, or None when the pattern has no `*`
    (an exact action name)."""
    segments = pattern.split(".")
    if "*" not in segments:
        return None
    return tuple(segments[: segments.index("*")])


@lru_cache(maxsize=65536)
def pattern_matches(pattern: str, action: str) -> bool:
    """Whether `action` (a dotted name) falls under `pattern`."""
    if pattern == "*" or pattern == action:
        return True
    want = pattern.split(".")
    have = action.split(".")
    if want[-1] == "*":
        if len(have) < len(want):
            return False
        have = have[: len(want) - 1]
        want = want[:-1]
    elif len(have) != len(want):
        return False
    return all(w == "*" or w == h for w, h in zip(want, have, strict=True))
