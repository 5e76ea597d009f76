"""Plain values in and out of the decision point: requests, rules, decisions, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = [
    "ActionFacts",
    "AgentFacts",
    "Decision",
    "DecisionRequest",
    "Effect",
    "FederationError",
    "LimitCheck",
    "LimitKind",
    "MatchedRule",
    "PolicyCompileError",
    "Rule",
    "Scope",
]

COE = "coe"


class Effect(StrEnum):
    """What a rule or a decision says about an action; compares equal to its plain string."""

    ALLOW = "allow"
    DENY = "deny"
    REQUIRE_APPROVAL = "require_approval"


@dataclass(frozen=True, slots=True)
class AgentFacts:
    """Who is acting: the agent, its role's grants, its business unit and autonomy level."""

    slug: str
    role: str
    business_unit: str
    autonomy_level: int
    capabilities: tuple[str, ...] = ()
    granted_patterns: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Callers often hold these as JSON lists; the engine needs them hashable.
        if type(self.capabilities) is not tuple:
            object.__setattr__(self, "capabilities", tuple(self.capabilities))
        if type(self.granted_patterns) is not tuple:
            object.__setattr__(self, "granted_patterns", tuple(self.granted_patterns))


@dataclass(frozen=True, slots=True)
class ActionFacts:
    """What is being done: the action type's name, data classification and risk tier."""

    name: str
    data_classification: str = "internal"
    risk_tier: str = "low"


@dataclass(frozen=True, slots=True)
class DecisionRequest:
    """Everything a decision may depend on. `context` holds time of day, weekday and the
    agent's and business unit's recent counts and totals, as the caller measured them."""

    agent: AgentFacts
    action: ActionFacts
    payload: dict[str, Any] = field(default_factory=dict)
    context: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scope:
    """Whom a rule applies to; an empty set means everyone on that axis."""

    roles: frozenset[str] = frozenset()
    business_units: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    autonomy_levels: frozenset[int] = frozenset()


class LimitKind(StrEnum):
    """Which threshold of a limit a rule checks: over the soft one an action needs
    approval, over the hard one it is denied."""

    SOFT = "soft"
    HARD = "hard"


@dataclass(frozen=True, slots=True)
class LimitCheck:
    """What a rule that checks a limit checks: the stored limit rule whose counter it reads
    (`context.limits["<rule_id>"]`) and which of its thresholds."""

    rule_id: int | str
    kind: LimitKind


@dataclass(frozen=True, slots=True)
class Rule:
    """One policy rule. `owner` is "coe" or the slug of the business unit that owns it;
    `condition` is CEL source over payload, agent, action and context ("" means always);
    `limit` says which limit threshold the rule checks, if it stands for one."""

    id: int | str
    name: str
    action_pattern: str
    effect: Effect | str
    condition: str = ""
    scope: Scope = Scope()
    owner: str = COE
    policy_version_id: int | str | None = None
    route: str = ""
    sla_seconds: int | None = None
    log_only: bool = False
    reason: str = ""
    limit: LimitCheck | None = None


@dataclass(frozen=True, slots=True)
class MatchedRule:
    """A rule whose scope and condition matched, as reported in a decision."""

    id: int | str
    name: str
    effect: Effect
    log_only: bool
    limit: LimitCheck | None = None

    def over_hard_limit(self) -> bool:
        """True when this enforced rule is a limit's hard threshold, exceeded."""
        return not self.log_only and self.limit is not None and self.limit.kind is LimitKind.HARD


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: the effect, why (matched rules and reasons), where an approval goes,
    under which policy versions, any evaluation errors, and how long it took.
    `shadow` is True for L0 agents: the action runs only against the sandbox."""

    effect: Effect
    matched: tuple[MatchedRule, ...]
    reasons: tuple[str, ...]
    route: str | None
    sla_seconds: int | None
    policy_version_ids: tuple[int | str, ...]
    errors: tuple[str, ...]
    duration_us: float
    shadow: bool = False

    @property
    def allowed(self) -> bool:
        """True only when the action may run now without a human."""
        return self.effect is Effect.ALLOW


class PolicyCompileError(ValueError):
    """A rule cannot be compiled. Carries the rule id and, for conditions, the 1-based line
    and column of the problem, so a form can point at it."""

    def __init__(
        self,
        message: str,
        *,
        rule_id: int | str | None = None,
        line: int | None = None,
        column: int | None = None,
        field: str = "condition",
    ) -> None:
        self.message = message
        self.rule_id = rule_id
        self.line = line
        self.column = column
        self.field = field
        where = f" at line {line}, column {column}" if line is not None else ""
        rule = f"rule {rule_id}: " if rule_id is not None else ""
        super().__init__(f"{rule}{message}{where}")


class FederationError(PolicyCompileError):
    """A business-unit rule would loosen what the COE decides, or reach beyond its unit."""

    def __init__(
        self, message: str, *, rule_id: int | str | None = None, field: str = "effect"
    ) -> None:
        super().__init__(message, rule_id=rule_id, field=field)
