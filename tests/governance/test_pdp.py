"""The decision point: combining, fail-closed evaluation, autonomy levels, patterns, compile
errors, federation and the compiled-set cache. Pure: no database."""

import pytest

from governance.pdp import (
    ActionFacts,
    AgentFacts,
    CompiledPolicySet,
    DecisionRequest,
    Effect,
    FederationError,
    LimitCheck,
    LimitKind,
    PolicyCompileError,
    Rule,
    Scope,
    check_bu_rule,
    check_rule,
    get_compiled,
    invalidate,
    pattern_matches,
)

PO = "erp.purchase_order.create"


def request(
    action=PO,
    payload=None,
    context=None,
    *,
    level=2,
    role="buyer",
    bu="emea",
    slug="buyer-1",
    grants=("erp.*",),
    classification="internal",
):
    return DecisionRequest(
        agent=AgentFacts(slug, role, bu, level, ("purchasing",), grants),
        action=ActionFacts(action, classification, "medium"),
        payload={"amount": 1200, "currency": "EUR"} if payload is None else payload,
        context={"hour": 10, "weekday": 2} if context is None else context,
    )


def rule(id, effect, pattern=PO, condition="", **kwargs):
    return Rule(
        id=id, name=f"r{id}", action_pattern=pattern, effect=effect, condition=condition, **kwargs
    )


def decide(rules, req=None):
    return CompiledPolicySet(rules).decide(req or request())


def matched_ids(decision):
    return [m.id for m in decision.matched]


# Combining


def test_it_denies_when_no_rule_matches():
    decision = decide([rule(1, "allow", condition="payload.amount > 5000")])
    assert decision.effect == Effect.DENY
    assert decision.reasons == (f"no rule allows {PO}",)
    assert decision.matched == ()


def test_it_denies_with_an_empty_policy_set():
    assert decide([]).effect == "deny"


def test_it_allows_when_an_allow_rule_matches():
    decision = decide([rule(1, "allow", reason="buyers may order")])
    assert decision.effect == "allow"
    assert decision.allowed
    assert decision.reasons == ("buyers may order",)
    assert decision.route is None and decision.sla_seconds is None


def test_deny_overrides_allow_and_require_approval():
    decision = decide(
        [
            rule(1, "allow"),
            rule(2, "require_approval", route="finance"),
            rule(3, "deny", reason="embargoed supplier"),
        ]
    )
    assert decision.effect == "deny"
    assert decision.reasons == ("embargoed supplier",)
    assert matched_ids(decision) == [1, 2, 3]
    assert decision.route is None


def test_require_approval_beats_allow_and_carries_route_and_sla():
    decision = decide(
        [
            rule(1, "allow"),
            rule(
                2,
                "require_approval",
                condition="payload.amount > 1000",
                route="finance",
                sla_seconds=3600,
            ),
            rule(3, "require_approval", route="legal", sla_seconds=60),
        ]
    )
    assert decision.effect == "require_approval"
    assert (decision.route, decision.sla_seconds) == ("finance", 3600)
    assert decision.reasons == ("approval required by rule r2", "approval required by rule r3")


def test_require_approval_applies_even_without_an_allow_rule():
    assert decide([rule(1, "require_approval", route="q")]).effect == "require_approval"


def test_an_evaluation_error_fails_closed_and_is_recorded():
    decision = decide(
        [rule(1, "allow"), rule(2, "deny", condition="payload.supplier == 'evil'")],
        request(payload={"amount": 10}),
    )
    assert decision.effect == "deny"
    assert decision.errors == ("rule 2 (r2): no such field: payload.supplier",)
    assert decision.reasons[-1] == "a rule could not be evaluated: denied (fail closed)"
    assert matched_ids(decision) == [1]


def test_a_runtime_type_error_fails_closed():
    decision = decide(
        [rule(1, "allow", condition="payload.amount > 'ten'")],
        request(payload={"amount": 10}),
    )
    assert decision.effect == "deny"
    assert decision.errors[0].startswith("rule 1 (r1): TypeError")


def test_a_condition_that_is_not_boolean_fails_closed():
    decision = decide([rule(1, "allow", condition="payload.amount")])
    assert decision.effect == "deny"
    assert decision.errors == ("rule 1 (r1): condition gave 1200, not true/false",)


def test_payload_that_cannot_be_read_fails_closed():
    bad = DecisionRequest(
        request().agent, request().action, payload=["not", "a", "map"], context={}
    )
    decision = decide([rule(1, "allow", condition="payload.amount > 1")], bad)
    assert decision.effect == "deny"
    assert decision.errors


def test_log_only_rules_are_reported_but_not_enforced():
    decision = decide(
        [rule(1, "allow"), rule(2, "deny", condition="payload.amount > 1000", log_only=True)]
    )
    assert decision.effect == "allow"
    assert [(m.id, m.effect, m.log_only) for m in decision.matched] == [
        (1, Effect.ALLOW, False),
        (2, Effect.DENY, True),
    ]


def test_a_log_only_rule_alone_does_not_allow():
    assert decide([rule(1, "allow", log_only=True)]).effect == "deny"


def test_an_error_in_a_log_only_rule_is_recorded_but_not_enforced():
    decision = decide([rule(1, "allow"), rule(2, "deny", condition="payload.nope", log_only=True)])
    assert decision.effect == "allow"
    assert decision.errors == ("rule 2 (r2): no such field: payload.nope",)


def test_the_role_must_grant_the_action():
    decision = decide([rule(1, "allow")], request(grants=("crm.*",)))
    assert decision.effect == "deny"
    assert decision.reasons == (f"role does not grant {PO}",)
    assert decision.matched == ()


def test_a_role_granting_everything_is_honoured():
    assert decide([rule(1, "allow")], request(grants=("*",))).effect == "allow"


# Autonomy levels


def test_l1_turns_allow_into_require_approval():
    decision = decide([rule(1, "allow")], request(level=1))
    assert decision.effect == "require_approval"
    assert decision.reasons[-1] == "L1 supervised: every action needs approval"
    assert not decision.shadow


def test_l1_keeps_a_deny():
    assert decide([rule(1, "deny"), rule(2, "allow")], request(level=1)).effect == "deny"
    assert decide([], request(level=1)).effect == "deny"


def test_l0_keeps_the_effect_and_marks_the_decision_as_shadow():
    allowed = decide([rule(1, "allow")], request(level=0))
    assert (allowed.effect, allowed.shadow) == ("allow", True)
    denied = decide([rule(1, "deny")], request(level=0))
    assert (denied.effect, denied.shadow) == ("deny", True)


@pytest.mark.parametrize("level", [2, 3])
def test_l2_and_l3_follow_the_rules(level):
    rules = [rule(1, "allow"), rule(2, "require_approval", condition="agent.level < 3")]
    decision = decide(rules, request(level=level))
    assert decision.effect == ("require_approval" if level == 2 else "allow")
    assert not decision.shadow


# Scope


def test_scope_limits_rules_by_role_business_unit_agent_and_level():
    rules = [
        rule(1, "allow"),
        rule(2, "deny", scope=Scope(roles=frozenset({"clerk"}))),
        rule(3, "deny", scope=Scope(business_units=frozenset({"apac"}))),
        rule(4, "deny", scope=Scope(agents=frozenset({"other-agent"}))),
        rule(5, "deny", scope=Scope(autonomy_levels=frozenset({3}))),
    ]
    assert decide(rules).effect == "allow"
    assert decide(rules, request(role="clerk")).effect == "deny"
    assert decide(rules, request(bu="apac")).effect == "deny"
    assert decide(rules, request(slug="other-agent")).effect == "deny"
    assert decide(rules, request(level=3)).effect == "deny"


def test_a_business_unit_approval_rule_cannot_open_what_the_coe_does_not_allow():
    rules = [rule(1, "require_approval", owner="emea", route="emea-buyers")]
    decision = decide(rules)
    assert decision.effect == "deny"
    assert decision.reasons == (f"no rule allows {PO}",)
    assert matched_ids(decision) == [1]


def test_a_business_unit_approval_rule_tightens_a_coe_allow():
    rules = [rule(1, "allow"), rule(2, "require_approval", owner="emea", route="emea-buyers")]
    decision = decide(rules)
    assert (decision.effect, decision.route) == ("require_approval", "emea-buyers")


def test_a_business_unit_rule_applies_only_inside_its_unit():
    rules = [rule(1, "allow"), rule(2, "deny", owner="apac")]
    assert decide(rules, request(bu="emea")).effect == "allow"
    assert decide(rules, request(bu="apac")).effect == "deny"


# Conditions


def test_conditions_see_payload_agent_action_and_context():
    rules = [
        rule(
            1,
            "allow",
            condition=(
                "payload.amount <= 5000 && payload.currency in ['EUR', 'USD']\n"
                "&& context.hour >= 8 && context.hour < 18 && context.counts.agent_hour < 50\n"
                "&& agent.level >= 2 && 'purchasing' in agent.capabilities\n"
                "&& action.data_classification != 'restricted' && action.name.startsWith('erp.')\n"
                "&& payload.lines.exists(l, l.qty > 1) && has(payload.supplier)"
            ),
        )
    ]
    payload = {"amount": 1200, "currency": "EUR", "lines": [{"qty": 3}], "supplier": "acme"}
    context = {"hour": 9, "counts": {"agent_hour": 3}}
    assert decide(rules, request(payload=payload, context=context)).effect == "allow"
    assert (
        decide(rules, request(payload={**payload, "currency": "GBP"}, context=context)).effect
        == "deny"
    )
    assert decide(rules, request(payload=payload, context={**context, "hour": 20})).effect == "deny"
    assert (
        decide(rules, request(payload=payload, context=context, classification="restricted")).effect
        == "deny"
    )


def test_has_tests_presence_without_failing():
    rules = [rule(1, "allow", condition="!has(payload.discount) || payload.discount < 10")]
    assert decide(rules, request(payload={"amount": 1})).effect == "allow"
    assert decide(rules, request(payload={"discount": 20})).effect == "deny"


def test_whole_roots_can_be_read_as_maps():
    rules = [rule(1, "allow", condition="size(payload) == 2 && payload['currency'] == 'EUR'")]
    assert decide(rules).effect == "allow"


def test_conditions_with_escapes_are_evaluated_as_written():
    rules = [rule(1, "allow", condition=r"payload.code.matches('^[A-Z]\\d+$')")]
    assert decide(rules, request(payload={"code": "A123"})).effect == "allow"
    assert decide(rules, request(payload={"code": "a123"})).effect == "deny"


def test_facts_given_as_lists_are_accepted():
    agent = AgentFacts("a", "buyer", "emea", 2, ["purchasing"], ["erp.*"])
    req = DecisionRequest(agent, ActionFacts(PO), {}, {})
    rules = [rule(1, "allow", condition="'purchasing' in agent.capabilities")]
    assert decide(rules, req).effect == "allow"


# Patterns


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "erp.purchase_order.create", True),
        ("erp.purchase_order.create", "erp.purchase_order.create", True),
        ("erp.purchase_order.create", "erp.purchase_order.cancel", False),
        ("erp.purchase_order.*", "erp.purchase_order.create", True),
        ("erp.*", "erp.purchase_order.create", True),
        ("erp.*", "erp", False),
        ("erp.*", "erpx.invoice", False),
        ("erp.purchase_order.*", "erp.purchase_order", False),
        ("erp.*.create", "erp.invoice.create", True),
        ("erp.*.create", "erp.invoice.line.create", False),
        ("erp.*.create", "erp.invoice.cancel", False),
        ("crm.*", "erp.invoice.create", False),
    ],
)
def test_action_patterns_match_whole_dotted_segments(pattern, action, expected):
    assert pattern_matches(pattern, action) is expected
    decision = decide([rule(1, "allow", pattern=pattern)], request(action=action, grants=("*",)))
    assert decision.allowed is expected


@pytest.mark.parametrize("pattern", ["erp.purchase*", "ERP.x", "erp..x", "", "*.create", "erp.*x"])
def test_it_refuses_a_malformed_action_pattern(pattern):
    with pytest.raises(PolicyCompileError) as caught:
        CompiledPolicySet([rule(9, "allow", pattern=pattern)])
    assert (caught.value.rule_id, caught.value.field) == (9, "action_pattern")


def test_the_index_returns_only_rules_whose_pattern_covers_the_action():
    rules = [rule(i, "allow", pattern=f"erp.object_{i}.create") for i in range(1000)]
    rules += [rule("w1", "deny", pattern="erp.*"), rule("w2", "deny", pattern="crm.*")]
    policy_set = CompiledPolicySet(rules)
    assert [r.id for r in policy_set.candidates("erp.object_7.create")] == [7, "w1"]


# Compile errors


def test_a_syntax_error_carries_the_rule_id_line_and_column():
    with pytest.raises(PolicyCompileError) as caught:
        CompiledPolicySet([rule(42, "allow", condition="payload.amount > 10 &&\n  (agent.level >")])
    error = caught.value
    assert (error.rule_id, error.line, error.column, error.field) == (42, 2, 17, "condition")
    assert "line 2, column 17" in str(error)


def test_an_unknown_variable_is_refused_where_it_is_written():
    with pytest.raises(PolicyCompileError) as caught:
        check_rule(rule(1, "allow", condition="payload.amount > 1 &&\n   amount < 5"))
    assert (caught.value.line, caught.value.column) == (2, 4)
    assert "unknown variable 'amount'" in caught.value.message


def test_an_unknown_function_is_refused():
    with pytest.raises(PolicyCompileError) as caught:
        check_rule(rule(1, "allow", condition="payload.amount > 1 && lookup(payload.x)"))
    assert (caught.value.line, caught.value.column) == (1, 23)
    assert "unknown function 'lookup'" in caught.value.message


def test_an_unknown_agent_field_is_refused():
    with pytest.raises(PolicyCompileError) as caught:
        check_rule(rule(1, "allow", condition="agent.autonomy > 1"))
    assert (caught.value.line, caught.value.column) == (1, 7)


@pytest.mark.parametrize("condition", ["1 + 'a' == 2", "42", "[1, 2].map(x, x * 2)"])
def test_a_constant_condition_must_evaluate_to_a_boolean(condition):
    with pytest.raises(PolicyCompileError):
        check_rule(rule(1, "allow", condition=condition))


def test_a_comprehension_may_not_rebind_a_root_variable():
    with pytest.raises(PolicyCompileError) as caught:
        check_rule(rule(1, "allow", condition="payload.lines.all(payload, payload.qty > 0)"))
    assert (caught.value.line, caught.value.column) == (1, 19)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"effect": "permit"}, "effect"),
        ({"sla_seconds": -1}, "sla_seconds"),
        ({"scope": Scope(autonomy_levels=frozenset({4}))}, "scope"),
    ],
)
def test_it_refuses_malformed_rule_fields(changes, field):
    fields = {"id": 1, "name": "r", "action_pattern": PO, "effect": "allow"} | changes
    with pytest.raises(PolicyCompileError) as caught:
        check_rule(Rule(**fields))
    assert caught.value.field == field


def test_it_refuses_duplicate_rule_ids():
    with pytest.raises(PolicyCompileError):
        CompiledPolicySet([rule(1, "allow"), rule(1, "deny")])


# Federation


def test_a_business_unit_rule_that_allows_is_refused():
    bu_rule = rule(1, "allow", owner="emea")
    with pytest.raises(FederationError) as caught:
        check_bu_rule(bu_rule)
    assert "may only add deny or require_approval" in str(caught.value)
    with pytest.raises(FederationError):
        CompiledPolicySet([bu_rule])


def test_a_business_unit_rule_may_not_reach_another_unit():
    with pytest.raises(FederationError) as caught:
        check_bu_rule(
            rule(1, "deny", owner="emea", scope=Scope(business_units=frozenset({"apac"})))
        )
    assert caught.value.field == "scope"


def test_business_unit_rules_that_tighten_are_accepted():
    check_bu_rule(rule(1, "deny", owner="emea"))
    check_bu_rule(
        rule(2, "require_approval", owner="emea", scope=Scope(business_units=frozenset({"emea"})))
    )
    check_bu_rule(rule(3, "allow", owner="coe"))


# Decision metadata and the cache


def test_a_decision_names_the_policy_versions_and_its_duration():
    rules = [rule(1, "allow", policy_version_id=7), rule(2, "deny", "crm.*", policy_version_id=9)]
    decision = decide(rules)
    assert decision.policy_version_ids == (7, 9)
    assert decision.duration_us > 0


def test_the_cache_compiles_each_version_once_until_invalidated():
    loads = []

    def loader():
        loads.append(1)
        return [rule(1, "allow")]

    invalidate()
    first = get_compiled(("test", 1), loader)
    assert get_compiled(("test", 1), loader) is first
    assert len(loads) == 1
    invalidate(("test", 1))
    assert get_compiled(("test", 1), loader) is not first
    assert len(loads) == 2
    invalidate()


def test_the_cache_keeps_nothing_when_a_rule_does_not_compile():
    invalidate()
    with pytest.raises(PolicyCompileError):
        get_compiled(("test", 2), lambda: [rule(1, "allow", condition="payload.amount >")])
    assert get_compiled(("test", 2), lambda: [rule(1, "allow")]).decide(request()).allowed
    invalidate()


# Constant parts: what CEL can see without the request


@pytest.mark.parametrize(
    ("condition", "line", "column", "words"),
    [
        ('payload.currency != "EUR" && 2000 > "x"', 1, 30, '2000 > "x" always fails'),
        ('payload.amount > 1 ||\n  2000 > "x"', 2, 3, '2000 > "x" always fails'),
        ('!(1 + "a" == 2) || payload.ok', 1, 1, '!(1 + "a" == 2) always fails'),
        ("payload.ok ? 1 / 0 : 2", 1, 14, "1 / 0 always fails"),
        ('payload.amount > 1 + "x"', 1, 18, '1 + "x" always fails'),
        ('payload.ok && "yes"', 1, 15, '"yes" is not true or false'),
        ('"yes" ? payload.a : payload.b', 1, 1, '"yes" is not true or false'),
        ("!size([1]) || payload.ok", 1, 1, "always fails"),
    ],
)
def test_a_constant_part_that_fails_is_refused_where_it_is_written(condition, line, column, words):
    with pytest.raises(PolicyCompileError) as caught:
        check_rule(rule(1, "allow", condition=condition))
    assert (caught.value.line, caught.value.column) == (line, column)
    assert words in caught.value.message


@pytest.mark.parametrize(
    "condition",
    [
        'payload.currency != "EUR" && 2000 > 1000',
        'payload.currency in ["EUR", "USD",] && {"a": 1}.a == payload.n',
        'payload.lines.all(line, line.sku > "a")',
        "has(payload.note) && size(payload.note) > 2 && -1 < payload.amount",
        'agent.level >= 2 && action.risk_tier == "high" ? true : payload.ok',
        'payload.ok ? 1 : "x"',
        "payload.amount / 0 > 1",
    ],
)
def test_parts_that_read_the_request_or_evaluate_cleanly_are_accepted(condition):
    check_rule(rule(1, "allow", condition=condition))


def test_a_stored_rule_with_a_failing_constant_part_still_compiles_and_fails_closed():
    """Rules saved before the constant-part check stay decidable: they deny when decided,
    with the error recorded, instead of breaking the whole policy set."""
    stored = rule(1, "allow", condition='payload.currency != "EUR" && 2000 > "x"')
    decision = decide([stored], request(payload={"amount": 1, "currency": "USD"}))
    assert decision.effect == Effect.DENY
    assert decision.errors


def test_a_matched_limit_rule_says_which_limit_and_threshold_it_checks():
    hard = LimitCheck(7, LimitKind.HARD)
    rules = [
        rule(1, "allow", pattern="*"),
        rule("7:soft", "require_approval", limit=LimitCheck(7, LimitKind.SOFT)),
        rule("7:hard", "deny", limit=hard),
        rule("7:hard-shadow", "deny", limit=hard, log_only=True),
    ]
    decision = CompiledPolicySet(rules).decide(request())
    by_id = {m.id: m for m in decision.matched}
    assert by_id["7:hard"].limit == hard and by_id["7:hard"].over_hard_limit()
    assert not by_id["7:soft"].over_hard_limit()
    assert not by_id["7:hard-shadow"].over_hard_limit()
    assert by_id[1].limit is None and not by_id[1].over_hard_limit()
