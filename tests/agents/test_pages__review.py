"""The COE's review queue shows what a COE needs to approve an agent: its owner, its role's
grants, the riskiest action types they reach, and its shadow results after a spell at L0."""

import pytest
from django.test import Client

from agents.models import Agent
from tests.factories import SYSTEM, make_agent
from tests.workflows.factories import make_action, make_action_type
from workflows.decisions import decide_action
from workflows.models import ActionState

REVIEW = "/agents/review/"


@pytest.fixture
def pending(world) -> Agent:
    """Agent "newcomer" of unit A waiting for review, its role granting erp.*."""
    world.role.action_patterns = ["erp.*"]
    world.role.save()
    return make_agent(world.builder_a, world.unit_a, world.role, "newcomer", active=False)


def review_page(world) -> tuple[str, Agent]:
    client = Client()
    client.force_login(world.coe)
    response = client.get(REVIEW)
    assert response.status_code == 200
    [agent] = [a for a in response.context["agents"] if a.slug == "newcomer"]
    return response.content.decode(), agent


def test_it_lists_the_riskiest_action_types_the_roles_grants_reach(world, pending):
    make_action_type("erp.invoice.read", risk_tier="low")
    make_action_type("erp.payment.send", risk_tier="critical")
    make_action_type("erp.order.create", risk_tier="high")
    make_action_type("crm.account.delete", risk_tier="critical")  # not granted
    html, agent = review_page(world)
    assert [action.name for action in agent.review.reach] == [
        "erp.payment.send",
        "erp.order.create",
        "erp.invoice.read",
    ]
    assert "crm.account.delete" not in html
    assert "Critical risk" in html and "erp.*" in html


def test_it_names_the_owner(world, pending):
    html, _ = review_page(world)
    assert 'id="review-newcomer-owner"' in html and "builder-a" in html


def test_an_agent_that_ran_at_l0_shows_its_shadow_results(world, pending):
    Agent.objects.filter(pk=pending.pk).update(autonomy_level=0)
    pending.refresh_from_db()
    po = make_action_type("erp.order.create")
    for _ in range(3):
        decide_action(pending, po.name, {}, actor=SYSTEM, source="gateway")
    make_action(pending, po, state=ActionState.SUCCEEDED, shadow=True)
    make_action(pending, po, state=ActionState.SUCCEEDED, shadow=True)
    html, agent = review_page(world)
    assert agent.review.shadow_total == 3
    assert agent.review.shadow_decisions == [("Deny", 3)]  # no policy allows it
    assert agent.review.shadow_outcomes == [("Succeeded", 2)]
    assert "3 decisions" in html and "Succeeded: 2" in html


def test_an_agent_that_never_ran_at_l0_says_so(world, pending):
    html, agent = review_page(world)
    assert agent.review.shadow_total == 0
    assert "it has not run at L0" in html
