"""Policy services and compilation: who may write policies, rule validation (CEL errors with
line and column, effect/route/SLA, limits, federation), draft → published → archived with
one published version at a time and immutable published rules, the translation into
decision-point rules (limits included), and the compiled set that follows the epoch."""

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError

from governance import epochs, policies
from governance.limits import LimitSpec
from governance.models import AuditEntry, Policy, PolicyVersion, Rule
from governance.pdp import ActionFacts, AgentFacts, CompiledPolicySet, DecisionRequest
from tests.factories import SYSTEM

PO = "erp.purchase_order.create"
State = PolicyVersion.State


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a block and its on-commit callbacks (the epoch bump), as a real commit would."""

    def run(fn, *args, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return fn(*args, **kwargs)

    return run


def request(unit="unit-a", *, action=PO, payload=None, context=None, level=2, slug="agent-a"):
    return DecisionRequest(
        agent=AgentFacts(slug, "buyer", unit, level, ("testing",), ("erp.*",)),
        action=ActionFacts(action),
        payload={"amount": 100} if payload is None else payload,
        context=context or {},
    )


def coe_policy(slug="coe-po", actor=SYSTEM) -> Policy:
    return policies.create_policy(actor, slug, slug.title())


def draft_of(policy: Policy) -> PolicyVersion:
    return policy.versions.get(state=State.DRAFT)


def add(version, actor=SYSTEM, **fields) -> Rule:
    fields = {"name": "rule", "action_pattern": "erp.*", "effect": "allow", **fields}
    return policies.add_rule(actor, version, **fields)


def published_allow(slug="coe-po", **fields) -> PolicyVersion:
    draft = draft_of(coe_policy(slug))
    add(draft, **fields)
    return policies.publish(SYSTEM, draft)


def errors_of(excinfo) -> dict:
    return excinfo.value.message_dict


# Who may write policies


def test_creating_a_policy_gives_an_empty_draft_v1_and_a_ledger_entry(world):
    policy = coe_policy(actor=world.coe)
    version = policy.versions.get()
    assert (version.number, version.state, version.rules.count()) == (1, State.DRAFT, 0)
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.actor_name, entry.data["owner"]) == ("policy.created", "coe", "coe")


def test_only_coe_staff_create_coe_policies(world):
    with pytest.raises(policies.NotAllowed, match="Only COE staff"):
        coe_policy(actor=world.builder_a)
    assert not Policy.objects.exists()


def test_builders_create_policies_only_for_their_own_business_units(world):
    mine = policies.create_policy(world.builder_a, "a-po", "A", business_unit=world.unit_a)
    assert mine.owner == "unit-a"
    with pytest.raises(policies.NotAllowed):
        policies.create_policy(world.builder_a, "b-po", "B", business_unit=world.unit_b)
    with pytest.raises(policies.NotAllowed):
        policies.create_policy(world.supervisor_a, "a-po-2", "A2", business_unit=world.unit_a)
    assert list(Policy.objects.values_list("slug", flat=True)) == ["a-po"]


def test_a_slug_that_names_an_api_route_is_refused(world):
    with pytest.raises(ValidationError) as excinfo:
        coe_policy("decide")
    assert errors_of(excinfo)["slug"] == ["'decide' is reserved for the API; choose another."]
    assert not Policy.objects.exists()


def test_builders_cannot_change_coe_policies(world):
    draft = draft_of(coe_policy())
    with pytest.raises(policies.NotAllowed):
        add(draft, actor=world.builder_a)
    with pytest.raises(policies.NotAllowed):
        policies.publish(world.builder_a, draft)
    assert draft.rules.count() == 0


def test_people_see_coe_policies_and_their_own_units_policies(world):
    coe_policy()
    policies.create_policy(SYSTEM, "a-po", "A", business_unit=world.unit_a)
    policies.create_policy(SYSTEM, "b-po", "B", business_unit=world.unit_b)

    def visible(user):
        return sorted(Policy.objects.for_person(user).values_list("slug", flat=True))

    assert visible(world.coe) == ["a-po", "b-po", "coe-po"]
    assert visible(world.builder_a) == ["a-po", "coe-po"]
    assert visible(world.auditor) == ["a-po", "coe-po"]
    assert visible(world.supervisor_b) == ["b-po", "coe-po"]


# Rule validation: CEL conditions


def test_it_refuses_a_cel_syntax_error_with_line_and_column_and_saves_nothing(world):
    draft = draft_of(coe_policy())
    entries = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        add(draft, condition="payload.amount > ")
    [message] = errors_of(excinfo)["condition"]
    assert message.startswith("line 1, column ")
    assert draft.rules.count() == 0
    assert AuditEntry.objects.count() == entries


def test_it_points_at_the_line_of_an_error_in_a_multi_line_condition(world):
    draft = draft_of(coe_policy())
    with pytest.raises(ValidationError) as excinfo:
        add(draft, condition="payload.amount > 10 &&\n  agent.colour == 'red'")
    assert errors_of(excinfo)["condition"] == [
        "line 2, column 9: agent has no field 'colour' "
        "(fields: slug, role, business_unit, level, capabilities)"
    ]


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("amount > 10", "line 1, column 1: unknown variable 'amount'"),
        ("payload.amount > 10 && shout(payload.x)", "line 1, column 24: unknown function 'shout'"),
        ("1 + 'a' == 2", "line 1, column 1: "),
        ("1 + 2", "line 1, column 1: a condition must be true or false"),
        ('2000 > "x"', "line 1, column 1: "),
        (
            'payload.currency != "EUR" && 2000 > "x"',
            'line 1, column 30: 2000 > "x" always fails: No such overload',
        ),
        ('payload.ok || "maybe"', 'line 1, column 15: "maybe" is not true or false'),
    ],
)
def test_it_refuses_unknown_names_and_type_errors_at_save(world, condition, expected):
    draft = draft_of(coe_policy())
    with pytest.raises(ValidationError) as excinfo:
        add(draft, condition=condition)
    assert errors_of(excinfo)["condition"][0].startswith(expected)
    assert draft.rules.count() == 0


def test_a_valid_condition_is_saved_and_recorded(world):
    draft = draft_of(coe_policy())
    rule = add(draft, condition="payload.amount <= 500 && agent.level >= 2")
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.verb == "policy.rule_added"
    assert entry.data["condition"] == rule.condition
    assert entry.data["version"] == 1
    assert entry.data["key"] == str(rule.key)


# Rule validation: effect, route, SLA, scope, pattern


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"effect": "require_approval"}, "route", "needs a route"),
        ({"effect": "deny", "route": "finance"}, "route", "Only a require_approval rule"),
        ({"effect": "allow", "sla_seconds": 600}, "sla_seconds", "only to a require_approval"),
        ({"action_pattern": "ERP/po"}, "action_pattern", "Dotted lowercase names"),
        ({"action_pattern": "erp.*.*x"}, "action_pattern", "Dotted lowercase names"),
        ({"autonomy_levels": [4]}, "autonomy_levels", "from 0 to 3"),
        ({"autonomy_levels": ["2"]}, "autonomy_levels", "from 0 to 3"),
        ({"roles": "buyer"}, "roles", "A list of slugs"),
        ({"agents": ["has space"]}, "agents", "A list of slugs"),
        ({"business_units": ["nowhere"]}, "business_units", "No business unit named nowhere"),
        ({"effect": "maybe"}, "effect", "not a valid choice"),
    ],
)
def test_it_refuses_inconsistent_rule_fields(world, fields, field, message):
    draft = draft_of(coe_policy())
    with pytest.raises(ValidationError) as excinfo:
        add(draft, **fields)
    assert message in " ".join(errors_of(excinfo)[field])
    assert draft.rules.count() == 0


def test_an_approval_rule_with_route_and_sla_is_accepted(world):
    draft = draft_of(coe_policy())
    rule = add(draft, effect="require_approval", route="finance", sla_seconds=3600)
    assert (rule.route, rule.sla_seconds, rule.position) == ("finance", 3600, 0)
    assert add(draft, name="second").position == 1


# Rule validation: limits


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"limit_metric": "actions"}, "soft_limit", "soft limit, a hard limit, or both"),
        ({"limit_metric": "payload_sum", "hard_limit": 10}, "limit_field", "Name the payload"),
        (
            {"limit_metric": "actions", "soft_limit": 10, "hard_limit": 10},
            "soft_limit",
            "lower than the hard limit",
        ),
        ({"limit_metric": "actions", "hard_limit": -1}, "hard_limit", "cannot be negative"),
        ({"soft_limit": 5}, "soft_limit", "Choose a limit metric"),
        ({"limit_field": "amount"}, "limit_field", "Only a payload_sum limit"),
        (
            {"limit_metric": "actions", "hard_limit": 5, "limit_field": "amount"},
            "limit_field",
            "Only a payload_sum limit",
        ),
        (
            {"limit_metric": "actions", "soft_limit": 5, "suspend_on_hard_limit": True},
            "suspend_on_hard_limit",
            "hard limit can suspend",
        ),
        (
            {"limit_metric": "actions", "hard_limit": 5, "effect": "allow"},
            "effect",
            "A limit rule cannot allow",
        ),
        (
            {"limit_metric": "actions", "hard_limit": 5, "effect": "deny", "route": "q"},
            "route",
            "set a soft limit or clear them",
        ),
    ],
)
def test_it_refuses_inconsistent_limits(world, fields, field, message):
    draft = draft_of(coe_policy())
    fields = {"effect": "deny", **fields}
    with pytest.raises(ValidationError) as excinfo:
        add(draft, **fields)
    assert message in " ".join(errors_of(excinfo)[field])
    assert draft.rules.count() == 0


# Rule validation: monotonic federation


def unit_a_draft(world) -> PolicyVersion:
    return draft_of(policies.create_policy(SYSTEM, "a-po", "A", business_unit=world.unit_a))


def test_a_business_unit_rule_cannot_allow(world):
    draft = unit_a_draft(world)
    with pytest.raises(ValidationError) as excinfo:
        add(draft, actor=world.builder_a, effect="allow")
    assert errors_of(excinfo)["effect"] == [
        "A business-unit rule cannot allow: only the COE's rules allow. "
        "Use deny or require_approval."
    ]
    assert draft.rules.count() == 0


def test_a_business_unit_rule_cannot_reach_another_unit(world):
    draft = unit_a_draft(world)
    with pytest.raises(ValidationError) as excinfo:
        add(draft, actor=world.builder_a, effect="deny", business_units=["unit-a", "unit-b"])
    assert errors_of(excinfo)["business_units"] == [
        "A business-unit rule applies only inside its own unit (unit-a); remove unit-b."
    ]


def test_a_business_unit_may_add_deny_approval_and_limits(world):
    draft = unit_a_draft(world)
    add(draft, actor=world.builder_a, effect="deny", condition="payload.amount > 1000")
    add(draft, actor=world.builder_a, effect="require_approval", route="unit-a-leads")
    add(draft, actor=world.builder_a, effect="deny", limit_metric="actions", soft_limit=5)
    assert policies.publish(world.builder_a, draft).state == State.PUBLISHED


# Versions: draft → published → archived


def test_publishing_archives_the_previous_version_and_keeps_one_published(world, committed):
    v1 = published_allow()
    v2 = policies.create_draft(world.coe, v1.policy)
    before = epochs.current(epochs.POLICIES)[epochs.POLICIES]
    committed(policies.publish, world.coe, v2)
    v1.refresh_from_db()
    v2.refresh_from_db()
    assert (v1.state, v2.state) == (State.ARCHIVED, State.PUBLISHED)
    assert v1.archived_at is not None and v2.published_by == world.coe
    assert PolicyVersion.objects.filter(policy=v1.policy, state=State.PUBLISHED).count() == 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.data["version"], entry.data["archived"]) == (
        "policy.published",
        2,
        1,
    )
    assert epochs.current(epochs.POLICIES)[epochs.POLICIES] > before


def test_only_a_draft_can_be_published(world):
    v1 = published_allow()
    with pytest.raises(policies.InvalidState, match="cannot change"):
        policies.publish(world.coe, v1)
    policies.archive(world.coe, v1)
    with pytest.raises(policies.InvalidState):
        policies.publish(world.coe, v1)


def test_a_new_draft_copies_the_published_rules_with_the_next_number(world):
    v1 = published_allow(condition="payload.amount < 5000", reason="small orders")
    v2 = policies.create_draft(world.coe, v1.policy, notes="raise the threshold")
    assert (v2.number, v2.state, v2.notes) == (2, State.DRAFT, "raise the threshold")
    [copy] = v2.rules.all()
    [original] = v1.rules.all()
    assert copy.pk != original.pk
    assert copy.key == original.key  # the rule's identity: its limit keeps counting
    assert (copy.condition, copy.reason) == ("payload.amount < 5000", "small orders")
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.data["copied_from"], entry.data["rules"]) == (
        "policy.draft_created",
        1,
        1,
    )


def test_a_policy_has_at_most_one_draft(world):
    v1 = published_allow()
    policies.create_draft(world.coe, v1.policy)
    with pytest.raises(policies.InvalidState, match="already has a draft"):
        policies.create_draft(world.coe, v1.policy)
    assert v1.policy.versions.count() == 2


def test_published_and_archived_rules_are_immutable(world):
    v1 = published_allow(condition="payload.amount < 5000")
    [rule] = v1.rules.all()
    entries = AuditEntry.objects.count()
    for change in (
        lambda: add(v1),
        lambda: policies.update_rule(world.coe, rule, condition="true"),
        lambda: policies.delete_rule(world.coe, rule),
    ):
        with pytest.raises(policies.InvalidState, match="is published and cannot change"):
            change()
    policies.archive(world.coe, v1)
    with pytest.raises(policies.InvalidState, match="is archived and cannot change"):
        policies.update_rule(world.coe, rule, condition="true")
    rule.refresh_from_db()
    assert rule.condition == "payload.amount < 5000"
    assert v1.rules.count() == 1
    assert AuditEntry.objects.count() == entries + 1  # the archive only


def test_a_draft_rule_can_be_changed_and_removed_with_ledger_entries(world):
    draft = draft_of(coe_policy())
    rule = add(draft, condition="payload.amount < 10")
    policies.update_rule(world.coe, rule, condition="payload.amount < 20", name="renamed")
    rule.refresh_from_db()
    assert (rule.condition, rule.name) == ("payload.amount < 20", "renamed")
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.verb == "policy.rule_updated"
    assert entry.data["changes"]["condition"] == {
        "before": "payload.amount < 10",
        "after": "payload.amount < 20",
    }
    policies.delete_rule(world.coe, rule)
    assert not draft.rules.exists()
    assert AuditEntry.objects.order_by("-id").first().verb == "policy.rule_deleted"


def test_an_invalid_change_to_a_draft_rule_changes_nothing(world):
    draft = draft_of(coe_policy())
    rule = add(draft, condition="payload.amount < 10")
    entries = AuditEntry.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        policies.update_rule(world.coe, rule, condition="payload.amount <")
    assert errors_of(excinfo)["condition"][0].startswith("line 1, column ")
    rule.refresh_from_db()
    assert rule.condition == "payload.amount < 10"
    assert AuditEntry.objects.count() == entries


def test_publishing_validates_every_rule_first(world):
    draft = draft_of(coe_policy())
    add(draft, name="good")
    # A row written around the services (a raw import, an older validator).
    Rule.objects.create(
        version=draft,
        name="broken",
        action_pattern="erp.*",
        effect="allow",
        condition="payload.amount >",
    )
    with pytest.raises(ValidationError) as excinfo:
        policies.publish(world.coe, draft)
    [problem] = errors_of(excinfo)["rules"]
    assert problem.startswith("rule 'broken': condition: line 1, column ")
    draft.refresh_from_db()
    assert draft.state == State.DRAFT


def test_archiving_the_published_version_leaves_the_policy_without_one(world, committed):
    v1 = published_allow()
    before = epochs.current(epochs.POLICIES)[epochs.POLICIES]
    committed(policies.archive, world.coe, v1)
    v1.refresh_from_db()
    assert v1.state == State.ARCHIVED
    assert not v1.policy.versions.filter(state=State.PUBLISHED).exists()
    assert epochs.current(epochs.POLICIES)[epochs.POLICIES] > before
    with pytest.raises(policies.InvalidState, match="already archived"):
        policies.archive(world.coe, v1)


def test_archiving_a_draft_discards_it(world):
    v1 = published_allow()
    v2 = policies.create_draft(world.coe, v1.policy)
    policies.archive(world.coe, v2)
    v1.refresh_from_db()
    assert v1.state == State.PUBLISHED
    assert policies.create_draft(world.coe, v1.policy).number == 3


# Compilation into decision-point rules


def test_rules_are_translated_with_scope_owner_and_version(world):
    draft = unit_a_draft(world)
    rule = add(
        draft,
        effect="require_approval",
        route="leads",
        sla_seconds=60,
        roles=["buyer"],
        agents=["agent-a"],
        autonomy_levels=[2, 3],
        condition="payload.amount > 10",
        log_only=True,
        reason="big",
    )
    [translated] = policies.rules_of([draft])
    assert translated.id == rule.pk
    assert translated.owner == "unit-a"
    assert translated.policy_version_id == draft.pk
    assert translated.scope.roles == frozenset({"buyer"})
    assert translated.scope.agents == frozenset({"agent-a"})
    assert translated.scope.autonomy_levels == frozenset({2, 3})
    assert (translated.route, translated.sla_seconds, translated.log_only) == ("leads", 60, True)
    assert (translated.effect, translated.reason) == ("require_approval", "big")


def test_coe_rules_come_first_then_by_policy_and_position(world):
    a = unit_a_draft(world)
    coe = draft_of(coe_policy())
    add(a, name="a-deny", effect="deny")
    add(coe, name="second", position=5)
    add(coe, name="first", position=1)
    names = [rule.name for rule in policies.rules_of([a, coe])]
    assert names == ["first", "second", "a-deny"]


def test_the_decision_point_reads_limit_counters_from_a_map():
    rules = [
        policies.pdp.Rule(id=1, name="allow", action_pattern="erp.*", effect="allow"),
        policies.pdp.Rule(
            id="12:hard",
            name="hard",
            action_pattern="erp.*",
            effect="deny",
            condition='context.limits["12"] > 10',
        ),
    ]
    policy_set = CompiledPolicySet(rules)
    assert policy_set.decide(request(context={"limits": {"12": 3}})).effect == "allow"
    assert policy_set.decide(request(context={"limits": {"12": 11}})).effect == "deny"


def test_a_limit_rule_requires_approval_over_soft_and_denies_over_hard(world):
    draft = draft_of(coe_policy())
    add(draft, name="orders")
    limit = add(
        draft,
        name="spend",
        effect="deny",
        limit_metric="payload_sum",
        limit_field="amount",
        limit_window="day",
        soft_limit=Decimal("1000.5"),
        hard_limit=Decimal("5000"),
        condition="payload.currency == 'EUR'",
    )
    soft, hard = policies.rules_of([draft])[1:]
    key = str(limit.pk)
    assert (soft.id, soft.effect, soft.route) == (f"{key}:soft", "require_approval", "limits")
    assert (hard.id, hard.effect) == (f"{key}:hard", "deny")
    assert soft.condition.endswith(f'context.limits["{key}"] > 1000.5')
    assert hard.condition.endswith(f'context.limits["{key}"] > 5000')
    assert "over the soft limit of 1000.5 of payload.amount per day per agent" in soft.reason

    policy_set = CompiledPolicySet(policies.rules_of([draft]))

    def effect(total, currency="EUR"):
        payload = {"amount": 10, "currency": currency}
        ctx = {"limits": {key: total}}
        return policy_set.decide(request(payload=payload, context=ctx))

    assert effect(1000).effect == "allow"
    over_soft = effect(Decimal("1000.75"))
    assert (over_soft.effect, over_soft.route) == ("require_approval", "limits")
    assert effect(5001).effect == "deny"
    assert effect(9999, currency="USD").effect == "allow"  # the rule's own condition


def test_a_limit_without_its_counter_fails_closed(world):
    draft = draft_of(coe_policy())
    add(draft, name="orders")
    add(draft, name="rate", effect="deny", limit_metric="actions", hard_limit=100)
    decision = CompiledPolicySet(policies.rules_of([draft])).decide(request())
    assert decision.effect == "deny"
    assert decision.errors


def test_limit_specs_describe_what_to_count(world):
    coe = draft_of(coe_policy())
    rule = add(
        coe,
        effect="deny",
        limit_metric="actions",
        limit_scope="business_unit",
        limit_window="minute",
        soft_limit=30,
        hard_limit=60,
        suspend_on_hard_limit=True,
        business_units=["unit-b"],
    )
    a = unit_a_draft(world)
    mine = add(a, effect="deny", limit_metric="tokens", hard_limit=10_000)
    specs = {spec.rule_id: spec for spec in policies.limit_specs([coe, a])}
    assert specs[rule.pk] == LimitSpec(
        rule_id=rule.pk,
        policy_id=coe.policy_id,
        rule_key=rule.key.hex,
        action_pattern="erp.*",
        metric="actions",
        scope="business_unit",
        window="minute",
        soft=Decimal("30"),
        hard=Decimal("60"),
        suspend_on_hard=True,
        business_units=frozenset({"unit-b"}),
    )
    # A business unit's limit counts only inside that unit, as its rules apply.
    assert specs[mine.pk].business_units == frozenset({"unit-a"})
    assert specs[mine.pk].metric == "tokens"


# The compiled set of published versions


def test_the_current_set_holds_only_published_versions(world, committed):
    committed(published_allow)
    draft = unit_a_draft(world)
    add(draft, effect="deny")  # a draft: not in force
    policy_set = policies.current_policy_set()
    assert policy_set.decide(request()).effect == "allow"
    assert policies.current_policy_set() is policy_set  # compiled once per epoch


def test_a_publish_elsewhere_takes_effect_on_the_next_decision(world, committed):
    v1 = committed(published_allow)
    assert policies.current_policy_set().decide(request()).effect == "allow"
    # Another process publishes: the database changes, then the epoch is bumped after commit.
    v2 = policies.create_draft(SYSTEM, v1.policy)
    rule = v2.rules.get()
    policies.update_rule(SYSTEM, rule, effect="deny")
    policies.publish(SYSTEM, v2)  # on-commit callbacks not run yet: epoch unchanged
    assert policies.current_policy_set().decide(request()).effect == "allow"
    cache.incr(epochs.POLICIES)
    decision = policies.current_policy_set().decide(request())
    assert decision.effect == "deny"
    assert decision.policy_version_ids == (v2.pk,)


def test_current_limit_specs_follow_the_published_versions(world, committed):
    draft = draft_of(coe_policy())
    add(draft, effect="deny", limit_metric="actions", hard_limit=5)
    assert policies.current_limit_specs() == ()
    committed(policies.publish, SYSTEM, draft)
    [spec] = policies.current_limit_specs()
    assert spec.hard == Decimal("5")


def test_a_draft_set_replaces_only_its_own_policys_published_version(world, committed):
    v1 = committed(published_allow)
    unit = unit_a_draft(world)
    add(unit, effect="require_approval", route="leads", condition="payload.amount > 50")
    committed(policies.publish, SYSTEM, unit)
    v2 = policies.create_draft(SYSTEM, v1.policy)
    policies.update_rule(SYSTEM, v2.rules.get(), condition="payload.amount < 10")

    draft_set = policies.draft_policy_set(v2)
    assert set(draft_set.policy_version_ids) == {v2.pk, unit.pk}
    assert draft_set.decide(request(payload={"amount": 5})).effect == "allow"
    assert draft_set.decide(request(payload={"amount": 100})).effect == "deny"
    current = policies.current_policy_set().decide(request(payload={"amount": 100}))
    assert current.effect == "require_approval"
    assert policies.draft_policy_set(v2) is draft_set  # compiled once per content
