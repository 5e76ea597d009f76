"""The decision point: a compiled, indexed rule set and `decide(request) -> Decision`.

Combining, in order:
1. the agent's role must grant the action (else deny);
2. rules whose action pattern and scope cover the request and whose condition is true match;
   `log_only` rules are reported but never change the effect;
3. any evaluation error in an enforced rule means deny; otherwise deny beats
   require_approval beats allow, and no matching COE rule means deny: business-unit rules
   only ever tighten what the COE's rules decide (monotonic federation);
4. autonomy level on top: L1 turns allow into require_approval, L0 marks the decision as
   shadow (run against the sandbox only), L2 and L3 keep what the rules say.
"""

from __future__ import annotations

from collections.abc import Iterable
from time import perf_counter_ns
from typing import Any

from governance.pdp.conditions import Condition, ContextPlan, compile_condition
from governance.pdp.federation import check_bu_rule
from governance.pdp.patterns import is_valid_pattern, literal_prefix, pattern_matches
from governance.pdp.types import (
    COE,
    Decision,
    DecisionRequest,
    Effect,
    MatchedRule,
    PolicyCompileError,
    Rule,
)

__all__ = ["CompiledPolicySet", "check_rule"]

ALLOW, DENY, REQUIRE_APPROVAL = Effect.ALLOW, Effect.DENY, Effect.REQUIRE_APPROVAL
L1_REASON = "L1 supervised: every action needs approval"
FAIL_CLOSED_REASON = "a rule could not be evaluated: denied (fail closed)"
_LEVELS = frozenset(range(4))
# Lookup caches are keyed by request facts; the cap bounds memory if callers send unusual
# names. Reaching it clears the cache, which only costs re-computation.
_MAX_CACHED = 50_000

_VERBS = {ALLOW: "allowed", DENY: "denied", REQUIRE_APPROVAL: "approval required"}
_RANK = {ALLOW: 0, REQUIRE_APPROVAL: 1, DENY: 2}
_BY_RANK = (ALLOW, REQUIRE_APPROVAL, DENY)


class _CompiledRule:
    """A rule prepared for the hot loop: scope sets (None = everyone), program, reason."""

    __slots__ = (
        "agents",
        "business_units",
        "coe",
        "condition",
        "effect",
        "index",
        "label",
        "levels",
        "log_only",
        "matched",
        "program",
        "rank",
        "reason",
        "roles",
        "rule",
    )

    def __init__(self, rule: Rule, index: int, effect: Effect, condition: Condition | None):
        scope = rule.scope
        self.rule = rule
        self.index = index
        self.effect = effect
        self.rank = _RANK[effect]
        self.coe = rule.owner == COE
        self.condition = condition
        self.program = condition.program if condition is not None else None
        self.roles = frozenset(scope.roles) or None
        # A BU rule only ever applies inside its own unit, whatever its scope says.
        self.business_units = (
            frozenset({rule.owner}) if rule.owner != COE else frozenset(scope.business_units)
        ) or None
        self.agents = frozenset(scope.agents) or None
        self.levels = frozenset(scope.autonomy_levels) or None
        self.log_only = bool(rule.log_only)
        self.matched = MatchedRule(rule.id, rule.name, effect, self.log_only, rule.limit)
        self.reason = rule.reason or f"{_VERBS[effect]} by rule {rule.name}"
        self.label = f"rule {rule.id} ({rule.name})"

    def covers(self, business_unit: str, role: str, level: int) -> bool:
        return (
            (self.business_units is None or business_unit in self.business_units)
            and (self.roles is None or role in self.roles)
            and (self.levels is None or level in self.levels)
        )


class _Bucket:
    """The rules that can apply to one (action, business unit, role, level)."""

    __slots__ = ("plan", "rules")

    def __init__(self, rules: tuple[_CompiledRule, ...], plan: ContextPlan | None):
        self.rules = rules
        self.plan = plan


def _compile_rule(rule: Rule, index: int, *, strict: bool = False) -> _CompiledRule:
    try:
        effect = Effect(rule.effect)
    except ValueError:
        raise PolicyCompileError(
            f"unknown effect {rule.effect!r} (allow, deny or require_approval)",
            rule_id=rule.id,
            field="effect",
        ) from None
    if not is_valid_pattern(rule.action_pattern):
        raise PolicyCompileError(
            f"{rule.action_pattern!r} is not an action pattern "
            "(dotted lowercase names, * for one segment, ending in .* for many)",
            rule_id=rule.id,
            field="action_pattern",
        )
    if not set(rule.scope.autonomy_levels) <= _LEVELS:
        raise PolicyCompileError("autonomy levels are 0 to 3", rule_id=rule.id, field="scope")
    if rule.sla_seconds is not None and rule.sla_seconds < 0:
        raise PolicyCompileError("the SLA cannot be negative", rule_id=rule.id, field="sla_seconds")
    check_bu_rule(rule)
    condition = compile_condition(rule.condition, rule.id, strict=strict)
    return _CompiledRule(rule, index, effect, condition)


def check_rule(rule: Rule) -> None:
    """Raise PolicyCompileError (with line and column for conditions) if `rule` could not be
    part of a policy set, or if a constant part of its condition fails (strict: a rule
    stored before that check still compiles, and fails closed when decided); for admin
    forms and services before saving."""
    _compile_rule(rule, 0, strict=True)


class CompiledPolicySet:
    """Rules compiled once (CEL programs, scope sets) and indexed by action, so the cost of a
    decision depends on the rules that can apply to it, not on the size of the set.

    Thread-safe for concurrent `decide` calls: its caches only ever gain entries (or are
    cleared), and each decision builds its own CEL context."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules: tuple[Rule, ...] = tuple(rules)
        compiled = [_compile_rule(rule, index) for index, rule in enumerate(self.rules)]
        seen: set[Any] = set()
        for rule in self.rules:
            if rule.id in seen:
                raise PolicyCompileError("duplicate rule id", rule_id=rule.id, field="id")
            seen.add(rule.id)
        self.policy_version_ids: tuple[Any, ...] = tuple(
            dict.fromkeys(
                r.policy_version_id for r in self.rules if r.policy_version_id is not None
            )
        )
        self._exact: dict[str, list[_CompiledRule]] = {}
        self._prefixed: dict[tuple[str, ...], list[_CompiledRule]] = {}
        for item in compiled:
            prefix = literal_prefix(item.rule.action_pattern)
            if prefix is None:
                self._exact.setdefault(item.rule.action_pattern, []).append(item)
            else:
                self._prefixed.setdefault(prefix, []).append(item)
        self._buckets: dict[tuple[str, str, str, int], _Bucket] = {}
        self._grants: dict[tuple[tuple[str, ...], str], bool] = {}
        self._plans: dict[frozenset, ContextPlan] = {}

    def _matching(self, action: str) -> list[_CompiledRule]:
        """Rules whose action pattern covers `action`, in rule order, from the index."""
        found = list(self._exact.get(action, ()))
        segments = tuple(action.split("."))
        for k in range(len(segments)):
            for item in self._prefixed.get(segments[:k], ()):
                if pattern_matches(item.rule.action_pattern, action):
                    found.append(item)
        found.sort(key=lambda item: item.index)
        return found

    def candidates(self, action: str) -> tuple[Rule, ...]:
        """The rules whose action pattern covers `action` (before scope and conditions)."""
        return tuple(item.rule for item in self._matching(action))

    def _bucket(self, key: tuple[str, str, str, int]) -> _Bucket:
        action, business_unit, role, level = key
        rules = tuple(r for r in self._matching(action) if r.covers(business_unit, role, level))
        conditions = [r.condition for r in rules if r.condition is not None]
        plan = None
        if conditions:
            # Buckets reading the same facts share one plan: fewer objects, warmer caches.
            facts = frozenset((c.leaves, c.root_keys) for c in conditions)
            plan = self._plans.get(facts)
            if plan is None:
                plan = self._plans[facts] = ContextPlan(conditions)
        bucket = _Bucket(rules, plan)
        if len(self._buckets) >= _MAX_CACHED:
            self._buckets.clear()
            self._plans.clear()
        self._buckets[key] = bucket
        return bucket

    def _granted(self, key: tuple[tuple[str, ...], str]) -> bool:
        patterns, action = key
        granted = any(pattern_matches(p, action) for p in patterns)
        if len(self._grants) >= _MAX_CACHED:
            self._grants.clear()
        self._grants[key] = granted
        return granted

    def decide(self, request: DecisionRequest) -> Decision:
        """Decide one request. Never raises for a well-formed request: evaluation problems
        become a deny with the error recorded."""
        start = perf_counter_ns()
        agent = request.agent
        action = request.action.name
        level = agent.autonomy_level
        grant_key = (agent.granted_patterns, action)
        granted = self._grants.get(grant_key)
        if granted is None:
            granted = self._granted(grant_key)
        if not granted:
            return Decision(
                DENY,
                (),
                (f"role does not grant {action}",),
                None,
                None,
                self.policy_version_ids,
                (),
                (perf_counter_ns() - start) / 1000,
                level == 0,
            )
        key = (action, agent.business_unit, agent.role, level)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._bucket(key)

        slug = agent.slug
        context = None
        matched: list[MatchedRule] = []
        hits: list[_CompiledRule] = []
        errors: list[str] = []
        failed = False
        for item in bucket.rules:
            if item.agents is not None and slug not in item.agents:
                continue
            program = item.program
            if program is not None:
                if context is None:
                    try:
                        context = bucket.plan.context(request)  # type: ignore[union-attr]
                    except Exception as exc:
                        errors.append(f"request facts could not be read: {exc}")
                        failed = True
                        break
                try:
                    result = program.execute(context)
                except Exception as exc:
                    errors.append(f"{item.label}: {item.condition.describe_error(exc)}")  # type: ignore[union-attr]
                    failed = failed or not item.log_only
                    continue
                if result is not True:
                    if result is not False:
                        errors.append(f"{item.label}: condition gave {result!r}, not true/false")
                        failed = failed or not item.log_only
                    continue
            matched.append(item.matched)
            if not item.log_only:
                hits.append(item)

        route = None
        sla = None
        floor = top = -1  # strongest effect among COE hits / among all hits
        first_approval = None
        for item in hits:
            rank = item.rank
            if rank > top:
                top = rank
            if item.coe and rank > floor:
                floor = rank
            if rank == 1 and first_approval is None:
                first_approval = item
        if failed:
            effect = DENY
            reasons = [h.reason for h in hits if h.effect is DENY]
            reasons.append(FAIL_CLOSED_REASON)
        elif floor < 0:
            # Only the COE can make an action possible; BU rules can only tighten.
            effect = DENY
            reasons = [h.reason for h in hits if h.effect is DENY]
            reasons = reasons or [f"no rule allows {action}"]
        else:
            effect = _BY_RANK[top]
            reasons = [h.reason for h in hits if h.effect is effect]
            if first_approval is not None and effect is REQUIRE_APPROVAL:
                route = first_approval.rule.route or None
                sla = first_approval.rule.sla_seconds
        if level == 1 and effect is ALLOW:
            effect = REQUIRE_APPROVAL
            reasons.append(L1_REASON)
        return Decision(
            effect,
            tuple(matched),
            tuple(reasons),
            route,
            sla,
            self.policy_version_ids,
            tuple(errors),
            (perf_counter_ns() - start) / 1000,
            level == 0,
        )
