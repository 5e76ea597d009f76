"""Limits across policy versions: a new version of a policy keeps counting a limit whose
meaning (metric, field, scope, window) it keeps, whatever else changed, and starts afresh one
whose meaning changed; refunds find the same counter; policies never share counters; and the
migration gives rules already copied across versions one key."""

import importlib
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.apps import apps

from governance import limits, policies
from governance.models import Policy, PolicyVersion, Rule
from governance.pdp import ActionFacts, AgentFacts, DecisionRequest
from tests.factories import SYSTEM

PO = "erp.purchase_order.create"
NOON = datetime(2026, 3, 4, 12, 0, 30, tzinfo=UTC)
State = PolicyVersion.State
LIMIT = {
    "name": "orders per hour",
    "action_pattern": "erp.purchase_order.*",
    "effect": "deny",
    "limit_metric": "actions",
    "limit_scope": "agent",
    "limit_window": "hour",
    "hard_limit": Decimal(3),
}


@pytest.fixture
def publish(django_capture_on_commit_callbacks):
    """Publish a draft as a real commit would (the epoch bump runs)."""

    def run(version: PolicyVersion) -> PolicyVersion:
        with django_capture_on_commit_callbacks(execute=True):
            return policies.publish(SYSTEM, version)

    return run


def published_policy(publish, slug: str = "coe-limits", **limit) -> Policy:
    """A COE policy whose v1 allows purchase orders and carries one limit rule."""
    policy = policies.create_policy(SYSTEM, slug, slug.title())
    draft = policy.versions.get(state=State.DRAFT)
    policies.add_rule(SYSTEM, draft, name="orders", action_pattern="erp.*", effect="allow")
    policies.add_rule(SYSTEM, draft, **{**LIMIT, **limit})
    publish(draft)
    return policy


def next_version(publish, policy: Policy, **limit_changes) -> None:
    """Publish the policy's next version: a typo fixed in the other rule, and `limit_changes`
    made to the limit rule."""
    draft = policies.create_draft(SYSTEM, policy)
    policies.update_rule(SYSTEM, draft.rules.get(name="orders"), reason="Orders, spelt right")
    if limit_changes:
        policies.update_rule(SYSTEM, draft.rules.get(name=LIMIT["name"]), **limit_changes)
    publish(draft)


def current_spec(policy: Policy) -> limits.LimitSpec:
    [spec] = [spec for spec in policies.current_limit_specs() if spec.policy_id == policy.pk]
    return spec


def count(spec, agent, unit, payload=None):
    total = limits.count([spec], agent, unit, PO, payload or {}, now=NOON)
    return total[str(spec.rule_id)]


def total(spec, agent, unit):
    return limits.totals([spec], agent, unit, now=NOON)[str(spec.rule_id)]


def test_a_new_version_with_the_limit_unchanged_keeps_counting_and_enforcing(
    world, publish, agent, unit
):
    policy = published_policy(publish)
    v1 = current_spec(policy)
    assert [count(v1, agent, unit) for _ in range(3)] == [1.0, 2.0, 3.0]

    next_version(publish, policy)

    v2 = current_spec(policy)
    assert v2.rule_id != v1.rule_id  # a new version stores new rules...
    assert count(v2, agent, unit) == 4.0  # ...but the counter carries on
    # The decision point sees the total under the new rule's id and denies over the limit.
    context = {"limits": limits.totals([v2], agent, unit, now=NOON)}
    request = DecisionRequest(
        agent=AgentFacts(agent, "buyer", unit, 2, ("testing",), ("erp.*",)),
        action=ActionFacts(PO),
        payload={},
        context=context,
    )
    assert policies.current_policy_set().decide(request).effect == "deny"


def test_a_new_threshold_keeps_counting(world, publish, agent, unit):
    policy = published_policy(publish)
    v1 = current_spec(policy)
    for _ in range(3):
        count(v1, agent, unit)

    next_version(publish, policy, soft_limit=Decimal(4), hard_limit=Decimal(10))

    v2 = current_spec(policy)
    assert (v2.soft, v2.hard) == (Decimal(4), Decimal(10))
    assert limits.exceeded(v2, count(v2, agent, unit)) == ""
    assert limits.exceeded(v2, count(v2, agent, unit)) == "soft"  # the 5th over a soft 4


def test_a_new_pattern_or_condition_keeps_counting(world, publish, agent, unit):
    policy = published_policy(publish)
    count(current_spec(policy), agent, unit)

    next_version(publish, policy, action_pattern="erp.*", condition="payload.amount > 0")

    assert total(current_spec(policy), agent, unit) == 1.0


@pytest.mark.parametrize(
    "change",
    [
        {"limit_window": "day"},
        {"limit_scope": "business_unit"},
        {"limit_metric": "tokens"},
        {"limit_metric": "payload_sum", "limit_field": "amount"},
    ],
    ids=["window", "scope", "metric", "payload-sum"],
)
def test_a_new_meaning_starts_a_fresh_counter(world, publish, agent, unit, change):
    policy = published_policy(publish)
    v1 = current_spec(policy)
    for _ in range(3):
        count(v1, agent, unit)

    next_version(publish, policy, **change)

    v2 = current_spec(policy)
    assert total(v2, agent, unit) == 0.0
    assert total(v1, agent, unit) == 3.0  # the old counter is left to expire


def test_summing_another_payload_field_starts_a_fresh_counter(world, publish, agent, unit):
    policy = published_policy(
        publish, limit_metric="payload_sum", limit_field="amount", hard_limit=Decimal(1000)
    )
    count(current_spec(policy), agent, unit, {"amount": 400, "net": 300})

    next_version(publish, policy, limit_field="net")

    assert total(current_spec(policy), agent, unit) == 0.0


def test_two_policies_with_the_same_limit_never_share_a_counter(world, publish, agent, unit):
    first = published_policy(publish, "coe-first")
    second = published_policy(publish, "coe-second")

    for _ in range(2):
        count(current_spec(first), agent, unit)
    count(current_spec(second), agent, unit)

    assert total(current_spec(first), agent, unit) == 2.0
    assert total(current_spec(second), agent, unit) == 1.0


def test_a_refund_after_a_new_version_gives_back_to_the_same_counter(world, publish, agent, unit):
    policy = published_policy(
        publish, limit_metric="payload_sum", limit_field="amount", hard_limit=Decimal(1000)
    )
    v1 = current_spec(policy)
    count(v1, agent, unit, {"amount": 900})
    assert count(v1, agent, unit, {"amount": 500}) == 1400.0  # over: about to be denied

    next_version(publish, policy, hard_limit=Decimal(2000))

    v2 = current_spec(policy)
    left = limits.refund([v2], agent, unit, PO, {"amount": 500}, now=NOON)
    assert left == {str(v2.rule_id): 900.0}
    assert count(v2, agent, unit, {"amount": 100}) == 1000.0


def test_a_rule_added_again_under_the_same_name_starts_afresh(world, publish, agent, unit):
    policy = published_policy(publish)
    count(current_spec(policy), agent, unit)

    draft = policies.create_draft(SYSTEM, policy)
    policies.delete_rule(SYSTEM, draft.rules.get(name=LIMIT["name"]))
    policies.add_rule(SYSTEM, draft, **LIMIT)
    publish(draft)

    assert total(current_spec(policy), agent, unit) == 0.0


# The migration's backfill


def test_the_backfill_gives_copies_across_versions_their_original_key(world, publish):
    backfill = importlib.import_module("governance.migrations.0003_rule_key").backfill_keys
    policy = policies.create_policy(SYSTEM, "coe-old", "Old")
    v1 = policy.versions.get()
    for name in ("rate", "twin", "twin"):
        policies.add_rule(SYSTEM, v1, **{**LIMIT, "name": name})
    publish(v1)
    v2 = policies.create_draft(SYSTEM, policy)
    policies.update_rule(SYSTEM, v2.rules.get(name="rate"), name="renamed")
    publish(v2)
    discarded = policies.create_draft(SYSTEM, policy)
    policies.archive(SYSTEM, discarded)
    v4 = policies.create_draft(SYSTEM, policy)
    other = policies.create_policy(SYSTEM, "coe-other", "Other").versions.get()
    policies.add_rule(SYSTEM, other, **{**LIMIT, "name": "twin"})
    for rule in Rule.objects.all():  # as before the migration: nothing links the copies
        Rule.objects.filter(pk=rule.pk).update(key=uuid.uuid4())

    backfill(apps, None)

    def keys(version, name):
        rules = version.rules.filter(name=name).order_by("position", "id")
        return list(rules.values_list("key", flat=True))

    twins = keys(v1, "twin")
    assert len(set(twins)) == 2
    assert keys(v2, "twin") == keys(discarded, "twin") == keys(v4, "twin") == twins
    assert keys(v2, "renamed") != keys(v1, "rate")  # renamed: matched by name, so a new key
    assert keys(v4, "renamed") == keys(discarded, "renamed") == keys(v2, "renamed")
    assert keys(other, "twin")[0] not in twins
    history = Rule.history.filter(id=v4.rules.get(name="renamed").pk)
    assert set(history.values_list("key", flat=True)) == set(keys(v4, "renamed"))
