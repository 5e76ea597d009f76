"""The policy decision point: pure Python and CEL, no Django, no other app of ours.

policy_set = CompiledPolicySet(rules)          # or get_compiled(version_key, loader)
decision = policy_set.decide(DecisionRequest(agent=..., action=..., payload=..., context=...))
"""

from governance.pdp.cache import get_compiled, invalidate
from governance.pdp.engine import CompiledPolicySet, check_rule
from governance.pdp.federation import check_bu_rule
from governance.pdp.patterns import is_valid_pattern, pattern_matches
from governance.pdp.types import (
    ActionFacts,
    AgentFacts,
    Decision,
    DecisionRequest,
    Effect,
    FederationError,
    LimitCheck,
    LimitKind,
    MatchedRule,
    PolicyCompileError,
    Rule,
    Scope,
)

__all__ = [
    "ActionFacts",
    "AgentFacts",
    "CompiledPolicySet",
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
    "check_bu_rule",
    "check_rule",
    "get_compiled",
    "invalidate",
    "is_valid_pattern",
    "pattern_matches",
]
