"""Why a person must decide, said plainly (workflows.reasons): from the decision's matched
rules, never "allowed by rule ...; L1 supervised" that reads as a contradiction."""

from decimal import Decimal

import pytest

from agents.models import Agent
from governance import policies
from tests.factories import SYSTEM
from tests.workflows.test_inbox import PO, make_governed, submit
from workflows.decisions import decide_action
from workflows.models import Escalation
from workflows.reasons import number, plain_reason


def _published_rule(world, **rule) -> None:
    """Publish a new version of the purchasing policy with one more rule."""
    policy = policies.Policy.objects.get(slug="purchasing")
    draft = policies.create_draft(world.coe, policy)
    policies.add_rule(
        world.coe, draft, action_pattern="erp.purchase_order.*", route="procurement", **rule
    )
    policies.publish(world.coe, draft)


@pytest.fixture
def governed(world):
    return make_governed()


def test_an_l1_agents_action_needs_approval_because_of_its_level_not_a_rule(world, governed):
    Agent.objects.filter(pk=world.agent_a.pk).update(autonomy_level=1)
    world.agent_a.refresh_from_db()
    escalation = submit(world.agent_a, {"amount": 200, "supplier": "ACME"})
    assert escalation.reason == "Needs approval: every action of an L1 (supervised) agent"
    assert "allowed by rule" not in escalation.reason


def test_a_rule_without_a_reason_is_named(world, governed):
    escalation = submit(world.agent_a, {"amount": 1200, "supplier": "ACME"})
    assert escalation.reason == "Needs approval: rule “large orders” asks for a person's approval"


def test_a_rules_own_reason_is_said_as_written(world, governed):
    _published_rule(
        world,
        name="new suppliers",
        condition='payload.supplier == "NEWCO"',
        effect="require_approval",
        reason="New suppliers are checked by Procurement.",
    )
    outcome = decide_action(world.agent_a, PO, {"amount": 10, "supplier": "NEWCO"}, actor=SYSTEM)
    assert plain_reason(outcome.record) == (
        "Needs approval: New suppliers are checked by Procurement."
    )


def test_a_soft_limit_says_the_total_the_threshold_and_whom_it_applies_to(world, governed):
    _published_rule(
        world,
        name="daily order budget",
        effect="require_approval",
        roles=[world.role.slug],
        limit_metric="payload_sum",
        limit_field="amount",
        limit_scope="agent",
        limit_window="day",
        soft_limit=Decimal("5000"),
    )
    first = decide_action(world.agent_a, PO, {"amount": 900}, actor=SYSTEM, count=True)
    assert first.record.effect == "allow"
    counted = decide_action(world.agent_a, PO, {"amount": 6300}, actor=SYSTEM, count=True)
    assert plain_reason(counted.record) == (
        "Needs approval: rule “large orders” asks for a person's approval; "
        "amount 7,200 over the 5,000 limit per agent per day for role Buyer"
    )


def test_a_soft_limits_own_reason_follows_its_numbers(world, governed):
    _published_rule(
        world,
        name="order count",
        effect="require_approval",
        limit_metric="actions",
        limit_scope="business_unit",
        limit_window="hour",
        soft_limit=Decimal("1"),
        reason="Busy hour: a person looks.",
    )
    decide_action(world.agent_a, PO, {"amount": 5}, actor=SYSTEM, count=True)
    second = decide_action(world.agent_a, PO, {"amount": 5}, actor=SYSTEM, count=True)
    assert plain_reason(second.record) == (
        "Needs approval: 2 actions over the 1 limit per business unit per hour "
        "(Busy hour: a person looks.)"
    )


def test_a_denial_and_an_allowance_are_said_plainly_too(world, governed):
    denied = decide_action(world.agent_a, PO, {"amount": 60000}, actor=SYSTEM)
    assert plain_reason(denied.record) == ("Denied: Orders above 50000 are never placed by agents.")
    allowed = decide_action(world.agent_a, PO, {"amount": 10}, actor=SYSTEM)
    assert plain_reason(allowed.record) == "Allowed: rule “small” allows it"
    ungranted = decide_action(world.agent_a, "crm.ticket.update", {}, actor=SYSTEM)
    assert plain_reason(ungranted.record) == "Denied: role does not grant crm.ticket.update"


def test_numbers_are_grouped_as_people_write_them():
    assert [number(7200), number(7200.0), number("12.50"), number(Decimal("0.5"))] == [
        "7,200",
        "7,200",
        "12.5",
        "0.5",
    ]


def test_an_action_over_a_soft_limit_reaches_the_inbox_saying_so(world, governed, as_agent):
    _published_rule(
        world,
        name="daily order budget",
        effect="require_approval",
        limit_metric="payload_sum",
        limit_field="amount",
        limit_scope="agent",
        limit_window="day",
        soft_limit=Decimal("5000"),
    )
    client = as_agent(world.key_a)
    answers = [
        client.post(
            "/api/v1/actions/",
            {"action": PO, "payload": {"amount": amount, "supplier": "ACME"}},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"order-{amount}",
        )
        for amount in (900, 950)
    ]
    assert [answer.status_code for answer in answers] == [201, 201]
    over = client.post(
        "/api/v1/actions/",
        {"action": PO, "payload": {"amount": 3900.5}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="order-big",
    )
    assert over.status_code == 202, over.json()
    escalation = Escalation.objects.get(pk=over.json()["escalation_id"])
    assert escalation.reason == (
        "Needs approval: rule “large orders” asks for a person's approval; "
        "amount 5,750.5 over the 5,000 limit per agent per day"
    )
