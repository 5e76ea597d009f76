"""Monotonic federation: business units may tighten the COE's policies, never loosen them."""

from __future__ import annotations

from governance.pdp.types import COE, Effect, FederationError, Rule

__all__ = ["check_bu_rule"]


def check_bu_rule(rule: Rule) -> None:
    """Refuse a business-unit rule that could loosen a decision or reach another unit.

    A BU rule may only add `deny` or `require_approval`, and only for its own unit. The
    engine lets BU rules raise a COE decision (allow -> require_approval -> deny) but never
    create one, so adding accepted rules can only keep or tighten each decision (property-
    tested). COE rules pass unchecked.
    """
    if rule.owner == COE:
        return
    if rule.effect == Effect.ALLOW:
        raise FederationError(
            f"business unit {rule.owner!r} may only add deny or require_approval rules; "
            f"allowing {rule.action_pattern} is the COE's decision",
            rule_id=rule.id,
        )
    others = rule.scope.business_units - {rule.owner}
    if others:
        raise FederationError(
            f"business unit {rule.owner!r} may not set rules for {', '.join(sorted(others))}",
            rule_id=rule.id,
            field="scope",
        )
