"""The impact preview equals re-deciding the recorded requests by hand."""

import re

import pytest
from django.urls import reverse

from governance import policies
from governance.models import DecisionRecord, PolicyVersion
from governance.pdp import ActionFacts, AgentFacts, CompiledPolicySet, DecisionRequest, Rule
from governance.simulation import explain, request_from_record, simulate
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
    assert {example.record_id for example in deny.examples} <= by_hand[("allow", "deny")]
    assert dict(deny.by_cause) == {
        "now matches 'no POs for B' (deny)": 1,
        "now matches 'big POs need approval' (require_approval)": 1,
    }
    approval = impact.changes[1]
    assert dict(approval.by_cause) == {"now matches 'big POs need approval' (require_approval)": 3}
    assert {example.route for example in approval.examples} == {"approvals"}


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


GUARD = {
    "name": "Runaway guard",
    "action_pattern": "erp.*",
    "effect": "deny",
    "limit_metric": "actions",
    "limit_window": "minute",
    "hard_limit": 120,
}


@pytest.fixture
def guarded(world):
    """A published policy allowing POs up to 5000 under a runaway guard (a limit rule), and
    gateway decisions whose context holds the guard's totals: 3 of B's POs, 1 of A's."""
    policy = policies.create_policy(world.coe, "guarded", "Guarded purchasing")
    version = policy.versions.get()
    policies.add_rule(
        world.coe,
        version,
        name="POs up to 5000",
        action_pattern="erp.purchase_order.*",
        condition="payload.amount <= 5000",
        effect="allow",
    )
    policies.add_rule(world.coe, version, **GUARD)
    policies.publish(world.coe, version)
    for agent, amount in (
        (world.agent_a, 2000),
        (world.agent_b, 10),
        (world.agent_b, 2000),
        (world.agent_b, 9000),
    ):
        decide_action(agent, PO, {"amount": amount}, actor=world.coe, source="gateway", count=True)
    return policy


def new_draft(client, policy):
    """A draft made the way COE staff make one: "new draft" of the published version."""
    response = client.post(f"/api/v1/policies/{policy.slug}/drafts/", {}, format="json")
    assert response.status_code == 201
    return PolicyVersion.objects.get(pk=response.json()["id"])


def test_the_recorded_decisions_hold_the_guards_totals(world, guarded):
    guard = guarded.versions.get().rules.get(name="Runaway guard")
    totals = [r.context["limits"] for r in DecisionRecord.objects.order_by("created_at")]
    assert [t[str(guard.pk)] for t in totals] == [1.0, 1.0, 2.0, 3.0]


def test_a_new_draft_of_a_policy_with_a_limit_changes_nothing(world, guarded, as_user):
    draft = new_draft(as_user(world.coe), guarded)
    impact = simulate(draft, DecisionRecord.objects.all())
    assert (impact.considered, impact.changed, impact.changes) == (4, 0, [])


def test_a_lower_threshold_changes_only_what_it_should(world, guarded, as_user):
    client = as_user(world.coe)
    draft = new_draft(client, guarded)
    allow = draft.rules.get(name="POs up to 5000")
    response = client.patch(
        f"/api/v1/policy-versions/{draft.pk}/rules/{allow.pk}/",
        {"condition": "payload.amount <= 1000"},
        format="json",
    )
    assert response.status_code == 200
    impact = simulate(draft, DecisionRecord.objects.all())
    # The two POs of 2000 are denied; the guard (copied with the rule's key) still passes.
    assert [(c.before, c.after, c.count) for c in impact.changes] == [("allow", "deny", 2)]
    assert dict(impact.changes[0].by_agent) == {"agent-a": 1, "agent-b": 1}


def test_totals_recorded_under_an_earlier_version_still_count(world, guarded, as_user):
    client = as_user(world.coe)
    policies.publish(world.coe, new_draft(client, guarded))  # v2: the same rules, new ids
    draft = new_draft(client, guarded)
    allow = draft.rules.get(name="POs up to 5000")
    policies.update_rule(world.coe, allow, condition="payload.amount <= 1000")
    impact = simulate(draft, DecisionRecord.objects.all())
    assert [(c.before, c.after, c.count) for c in impact.changes] == [("allow", "deny", 2)]


def test_a_new_limit_counts_only_the_action_itself(world, guarded, as_user):
    draft = new_draft(as_user(world.coe), guarded)
    policies.add_rule(
        world.coe,
        draft,
        name="Amount per day",
        action_pattern="erp.purchase_order.*",
        effect="deny",
        limit_metric="payload_sum",
        limit_field="amount",
        limit_window="day",
        hard_limit=1000,
    )
    policies.add_rule(world.coe, draft, **{**GUARD, "name": "New guard", "hard_limit": 1})
    impact = simulate(draft, DecisionRecord.objects.all())
    # A fresh total is this action's amount (and 1 action): only the POs of 2000 go over.
    assert [(c.before, c.after, c.count) for c in impact.changes] == [("allow", "deny", 2)]


def test_the_impact_page_lists_agents_and_units_most_common_first(world, guarded, client):
    draft = policies.create_draft(world.coe, guarded)
    policies.add_rule(world.coe, draft, name="No POs", action_pattern=PO, effect="deny")
    client.force_login(world.coe)
    response = client.get(reverse("governance:policy-impact", args=[draft.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(r'id="changed">\s*3\s*<', html)
    by_agent = re.findall(r">(agent-[ab])</a>: (\d+)", html)
    by_unit = re.findall(r"<li>(unit-[ab]): (\d+)</li>", html)
    assert by_agent == [("agent-b", "2"), ("agent-a", "1")]
    assert by_unit == [("unit-b", "2"), ("unit-a", "1")]


# Why a decision changes, against hand-built cases


def decided(*rules: Rule, payload=None):
    request = DecisionRequest(
        agent=AgentFacts("buyer-1", "buyer", "emea", 2, (), ("erp.*",)),
        action=ActionFacts(PO),
        payload={"amount": 100} if payload is None else payload,
    )
    return CompiledPolicySet(list(rules)).decide(request)


def hand_rule(rule_id, name, effect, condition="", **fields):
    return Rule(rule_id, name, "erp.*", effect, condition, **fields)


def test_a_rule_the_draft_adds_is_named_as_the_cause():
    before = decided(hand_rule(1, "POs", "allow"))
    after = decided(hand_rule(11, "POs", "allow"), hand_rule(12, "no POs", "deny"))
    assert explain(before, after) == ("now matches 'no POs' (deny)",)


def test_a_rule_the_draft_drops_or_no_longer_matches_is_named():
    before = decided(
        hand_rule(1, "POs", "allow"), hand_rule(2, "small", "deny", "payload.amount < 500")
    )
    after = decided(
        hand_rule(11, "POs", "allow"), hand_rule(12, "small", "deny", "payload.amount < 50")
    )
    assert explain(before, after) == ("no longer matches 'small' (deny)",)


def test_a_rule_whose_effect_changed_is_named_with_both_effects():
    before = decided(hand_rule(1, "POs", "allow"), hand_rule(2, "big", "deny"))
    after = decided(
        hand_rule(11, "POs", "allow"), hand_rule(12, "big", "require_approval", route="q")
    )
    assert explain(before, after) == ("'big' now says require_approval (was deny)",)


def test_an_evaluation_error_in_the_draft_is_named_with_its_rule():
    before = decided(hand_rule(1, "POs", "allow"))
    after = decided(hand_rule(11, "POs", "allow", "payload.missing > 1"))
    assert explain(before, after) == (
        "evaluation error in 'POs': no such field: payload.missing",
        "no longer matches 'POs' (allow)",
    )


def test_an_error_the_draft_fixes_is_named():
    before = decided(hand_rule(1, "POs", "allow", "payload.missing > 1"))
    after = decided(hand_rule(11, "POs", "allow", "payload.amount > 1"))
    assert explain(before, after) == (
        "no longer fails: 'POs': no such field: payload.missing",
        "now matches 'POs' (allow)",
    )


def test_the_impact_page_explains_each_changed_decision_and_links_its_request(
    world, recorded, client
):
    draft = policies.create_draft(world.coe, recorded)
    policies.add_rule(
        world.coe,
        draft,
        name="tiny POs are odd",
        action_pattern="erp.purchase_order.*",
        condition="payload.amount < 100",
        effect="deny",
        reason="too small to order",
    )
    client.force_login(world.coe)
    page = client.get(reverse("governance:policy-impact", args=[draft.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "now matches &#x27;tiny POs are odd&#x27; (deny): 2" in html
    assert html.count("too small to order") == 2
    for record in DecisionRecord.objects.filter(payload__amount=10):
        assert reverse("governance:decision-detail", args=[record.pk]) in html
