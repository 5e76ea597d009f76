"""Limits and budgets as rules: counters per agent or business unit over a time window.

A policy rule with `limit_metric` set becomes a LimitSpec. Before a decision, the caller
counts the action against every limit that applies (atomically, in the shared cache) and
passes the totals to the decision point as `context.limits["<rule id>"]`; the compiled
rules then require approval over the soft limit and deny over the hard one.
"""

from dataclasses import dataclass
from decimal import Decimal

__all__ = ["LimitSpec"]


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit: what it counts, for whom, over which window, and its thresholds."""

    rule_id: int
    action_pattern: str
    metric: str  # "actions", "payload_sum", "spend" or "tokens"
    scope: str  # "agent" or "business_unit"
    window: str  # "minute", "hour" or "day"
    field: str = ""  # the payload field a payload_sum limit adds up
    soft: Decimal | None = None
    hard: Decimal | None = None
    suspend_on_hard: bool = False
    roles: frozenset[str] = frozenset()
    business_units: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    autonomy_levels: frozenset[int] = frozenset()
