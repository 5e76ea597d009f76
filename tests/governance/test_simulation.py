"""The impact preview equals re-deciding the recorded requests by hand."""

import pytest

from governance import policies
from governance.models import DecisionRecord
from governance.simulation import request_from_record, simulate
from workflows.decisions import decide_action

PO = "erp.purchase_order.create"


@pytest.fixture
def recorded(world):
    """A published policy allowing POs, and a fixture of recorded decisions."""
    policy = policies.create_policy(world.coe, "purchasing", "Purchasing")
    policies.add_rule(
        world.coe,
        policy.versions.get(),
        name="POs",
        action_pattern="erp.purchase_order.*",
        effect="allow",
    )
    policies.publish(world.coe, policy.versions.get())
    for amount in (10, 500, 2000, 9000):
        decide_action(world.agent_a, PO, {"amount": amount}, actor=world.coe)
        decide_action(world.agent_b, PO, {"amount": amount}, actor=world.coe)
    return policy


def test_simulation_equals_redeciding_by_hand(world, recorded):
    draft = policies.create_draft(world.coe, recorded)
    policies.add_rule(
        world.coe,
        draft,
        name="big POs need approval",
        action_pattern="erp.purchase_order.*",
        condition="payload.amount > 1000",
        effect="require_approval",
        route="approvals",
    )
    policies.add_rule(
        world.coe,
        draft,
        name="no POs for B",
        action_pattern="erp.*",
        business_units=["unit-b"],
        condition="payload.amount > 5000",
        effect="deny",
    )
    impact = simulate(draft, DecisionRecord.objects.all())

    by_hand = {}
    current, proposed = policies.current_policy_set(), policies.draft_policy_set(draft)
    for record in DecisionRecord.objects.all():
        request = request_from_record(record)
        before, after = str(current.decide(request).effect), str(proposed.decide(request).effect)
        if before != after:
            by_hand.setdefault((before, after), set()).add(str(record.pk))

    assert impact.considered == 8
    assert impact.changed == sum(len(ids) for ids in by_hand.values()) == 4
    assert {(c.before, c.after): c.count for c in impact.changes} == {
        key: len(ids) for key, ids in by_hand.items()
    }
    # allow -> deny is listed before allow -> require_approval
    assert [(c.before, c.after) for c in impact.changes] == [
        ("allow", "deny"),
        ("allow", "require_approval"),
    ]
    deny = impact.changes[0]
    assert dict(deny.by_business_unit) == {"unit-b": 1}
    assert set(deny.examples) <= by_hand[("allow", "deny")]


def test_a_draft_identical_to_the_published_version_changes_nothing(world, recorded):
    draft = policies.create_draft(world.coe, recorded)
    impact = simulate(draft, DecisionRecord.objects.all())
    assert (impact.considered, impact.changed, impact.changes) == (8, 0, [])


def test_the_api_returns_the_same_impact_as_the_service(world, recorded, as_user):
    draft = policies.create_draft(world.coe, recorded)
    policies.add_rule(
        world.coe,
        draft,
        name="B stops",
        action_pattern="erp.*",
        business_units=["unit-b"],
        effect="deny",
    )
    expected = simulate(draft, DecisionRecord.objects.all())
    response = as_user(world.coe).post(
        f"/api/v1/policies/{recorded.slug}/simulate/", {"days": 7}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["considered"], body["changed"]) == (
        draft.pk,
        expected.considered,
        expected.changed,
    )
    assert body["changes"][0]["by_business_unit"] == {"unit-b": 4}
    assert body["changes"][0]["examples"][0]["link"].startswith("/governance/decisions/")


def test_only_coe_and_the_owning_units_builders_may_preview(world, recorded, as_user):
    url = f"/api/v1/policies/{recorded.slug}/simulate/"
    # A COE policy: readable by every member, previewed by COE staff only.
    assert as_user(world.builder_a).post(url, {}, format="json").status_code == 403
    assert as_user(world.coe).post(url, {}, format="json").status_code == 409  # no draft yet
    assert as_user(world.coe).post("/api/v1/policies/nope/simulate/", {}).status_code == 404
