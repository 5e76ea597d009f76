"""Properties of the decision point over random rule sets and requests (hypothesis):
the indexed, rewritten engine decides exactly like a naive linear scan that evaluates every
condition with plain CEL over whole dicts, and business-unit rules never loosen a decision."""

import re

import cel
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from governance.pdp import (
    ActionFacts,
    AgentFacts,
    CompiledPolicySet,
    DecisionRequest,
    FederationError,
    Rule,
    Scope,
    check_bu_rule,
)

ACTIONS = [
    "erp.purchase_order.create",
    "erp.purchase_order.approve",
    "erp.invoice.pay",
    "crm.lead.update",
    "crm.lead.merge.force",
    "hr.leave",
]
PATTERNS = [
    *ACTIONS,
    "*",
    "erp.*",
    "erp.purchase_order.*",
    "erp.*.create",
    "crm.*",
    "crm.lead.*",
    "crm.*.merge.*",
]
CONDITIONS = [
    "",
    "payload.amount > 100",
    "payload.amount <= 500 && payload.currency in ['EUR', 'USD']",
    "has(payload.amount) && payload.amount > 50",
    "!has(payload.nested.deep) || payload.nested.deep.x == 1",
    "context.hour >= 8 && context.hour < 18",
    "context.counts.agent_hour > 10 || payload.amount < 10",
    "agent.level >= 2 && agent.role == 'buyer'",
    "agent.business_unit == 'emea' && 'po' in agent.capabilities",
    "action.risk_tier == 'high' || action.data_classification == 'restricted'",
    "action.name.startsWith('erp.')",
    "payload.lines.exists(l, l.qty > 2)",
    "size(payload) > 2",
    "payload['currency'] == 'EUR'",
    "payload.supplier.startsWith('ac')",
    "payload.missing > 1",
    "payload.amount",
    "false && payload.nope > 1",
    "payload.nope > 1 || true",
    "payload.nested.deep.x == 1",
]
ROLES = ["buyer", "clerk", "auditor"]
UNITS = ["emea", "apac", "amer"]
AGENTS = ["a1", "a2", "a3"]
EFFECTS = ["allow", "deny", "require_approval"]
STRICTNESS = {"allow": 0, "require_approval": 1, "deny": 2}


def subset(values):
    """Mostly unscoped, so that rules often apply."""
    return st.one_of(st.just(frozenset()), st.frozensets(st.sampled_from(values), max_size=2))


@st.composite
def rules(draw, owner=None, effects=EFFECTS, own_unit_only=True):
    owner = owner or draw(st.sampled_from(["coe", *UNITS]))
    units = draw(subset(UNITS))
    return Rule(
        id=draw(st.uuids()).hex,
        name="r",
        action_pattern=draw(st.sampled_from(PATTERNS)),
        effect=draw(st.sampled_from(effects)),
        condition=draw(st.sampled_from(CONDITIONS)),
        scope=Scope(
            roles=draw(subset(ROLES)),
            business_units=units if owner == "coe" or not own_unit_only else frozenset({owner}),
            agents=draw(subset(AGENTS)),
            autonomy_levels=draw(subset([0, 1, 2, 3])),
        ),
        owner=owner,
        route=draw(st.sampled_from(["", "finance", "legal"])),
        sla_seconds=draw(st.sampled_from([None, 60, 3600])),
        log_only=draw(st.booleans()),
    )


coe_rules = rules(owner="coe")
bu_rules = st.sampled_from(UNITS).flatmap(
    lambda unit: rules(owner=unit, effects=["deny", "require_approval"])
)
any_rules = st.one_of(coe_rules, bu_rules)

payloads = st.fixed_dictionaries(
    {},
    optional={
        "amount": st.integers(0, 1000),
        "currency": st.sampled_from(["EUR", "USD", "GBP"]),
        "supplier": st.sampled_from(["acme", "zeta"]),
        "lines": st.lists(st.fixed_dictionaries({"qty": st.integers(0, 5)}), max_size=3),
        "nested": st.sampled_from([{}, {"deep": {}}, {"deep": {"x": 1}}, {"deep": {"x": 2}}]),
    },
)
contexts = st.fixed_dictionaries(
    {"hour": st.integers(0, 23)},
    optional={"counts": st.fixed_dictionaries({"agent_hour": st.integers(0, 20)})},
)
requests = st.builds(
    DecisionRequest,
    agent=st.builds(
        AgentFacts,
        slug=st.sampled_from(AGENTS),
        role=st.sampled_from(ROLES),
        business_unit=st.sampled_from(UNITS),
        autonomy_level=st.integers(0, 3),
        capabilities=st.sampled_from([(), ("po",)]),
        granted_patterns=st.one_of(
            st.just(("*",)), st.lists(st.sampled_from(PATTERNS), max_size=2).map(tuple)
        ),
    ),
    action=st.builds(
        ActionFacts,
        name=st.sampled_from(ACTIONS),
        data_classification=st.sampled_from(["internal", "restricted"]),
        risk_tier=st.sampled_from(["low", "high"]),
    ),
    payload=payloads,
    context=contexts,
)


def naive_matches(pattern, action):
    """Pattern matching written independently of governance.pdp.patterns."""
    if pattern == "*":
        return True
    regex = re.escape(pattern).replace(r"\*", "[^.]+")
    if pattern.endswith(".*"):
        regex = regex[: -len("[^.]+")] + r"[^.]+(\.[^.]+)*"
    return re.fullmatch(regex, action) is not None


def naive_decide(rule_list, req):
    """The specification as a linear scan: every rule, plain CEL over whole dicts; BU rules
    only tighten, so without a matching COE rule the answer is deny."""
    agent, action = req.agent, req.action
    if not any(naive_matches(p, action.name) for p in agent.granted_patterns):
        return ("deny", (), False, None, None)
    variables = {
        "payload": req.payload,
        "context": req.context,
        "agent": {
            "slug": agent.slug,
            "role": agent.role,
            "business_unit": agent.business_unit,
            "level": agent.autonomy_level,
            "capabilities": list(agent.capabilities),
        },
        "action": {
            "name": action.name,
            "data_classification": action.data_classification,
            "risk_tier": action.risk_tier,
        },
    }
    matched, enforced, error, failed = [], [], False, False
    for r in rule_list:
        units = {r.owner} if r.owner != "coe" else r.scope.business_units
        if not naive_matches(r.action_pattern, action.name):
            continue
        if (
            (units and agent.business_unit not in units)
            or (r.scope.roles and agent.role not in r.scope.roles)
            or (r.scope.agents and agent.slug not in r.scope.agents)
            or (r.scope.autonomy_levels and agent.autonomy_level not in r.scope.autonomy_levels)
        ):
            continue
        if r.condition:
            try:
                result = cel.evaluate(r.condition, variables)
            except Exception:
                error, failed = True, failed or not r.log_only
                continue
            if not isinstance(result, bool):
                error, failed = True, failed or not r.log_only
                continue
            if not result:
                continue
        matched.append(r.id)
        if not r.log_only:
            enforced.append(r)
    effects = [r.effect for r in enforced]
    route = sla = None
    if failed or "deny" in effects or not any(r.owner == "coe" for r in enforced):
        effect = "deny"
    elif "require_approval" in effects:
        effect = "require_approval"
        first = enforced[effects.index("require_approval")]
        route, sla = first.route or None, first.sla_seconds
    else:
        effect = "allow"
    if effect == "allow" and agent.autonomy_level == 1:
        effect = "require_approval"
    return (effect, tuple(matched), error, route, sla)


def summary(decision):
    return (
        str(decision.effect),
        tuple(m.id for m in decision.matched),
        bool(decision.errors),
        decision.route,
        decision.sla_seconds,
    )


@settings(max_examples=400, deadline=None)
@given(st.lists(any_rules, min_size=1, max_size=12), st.lists(requests, min_size=4, max_size=10))
def test_the_indexed_engine_decides_like_a_naive_linear_scan(rule_list, request_list):
    policy_set = CompiledPolicySet(rule_list)
    for req in request_list:
        decision = policy_set.decide(req)
        assert summary(decision) == naive_decide(rule_list, req)
        assert decision.shadow is (req.agent.autonomy_level == 0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(coe_rules, max_size=8),
    st.lists(rules(own_unit_only=False), min_size=1, max_size=4),
    st.lists(requests, min_size=1, max_size=6),
)
def test_business_unit_rules_never_loosen_a_coe_decision(coe, proposed, request_list):
    accepted = []
    for r in proposed:
        try:
            check_bu_rule(r)
        except FederationError:
            assert r.owner != "coe"
            continue
        if r.owner != "coe":
            accepted.append(r)
    before = CompiledPolicySet(coe)
    after = CompiledPolicySet(coe + accepted)
    for req in request_list:
        old, new = before.decide(req), after.decide(req)
        assert STRICTNESS[new.effect] >= STRICTNESS[old.effect]
        if req.agent.business_unit not in {r.owner for r in accepted}:
            assert new.effect == old.effect


@given(rules(effects=["allow"]).filter(lambda r: r.owner != "coe"))
def test_every_business_unit_allow_rule_is_refused(rule):
    with pytest.raises(FederationError):
        check_bu_rule(rule)
