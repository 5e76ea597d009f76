"""A decision's page: the route and SLA of an escalated decision, the policy versions by
name and number, the limit counters by rule, and links back to its action and escalation
(given by workflows through governance.links: governance imports no app above it)."""

from decimal import Decimal

import pytest
from django.test import Client

from governance import policies
from tests.factories import SYSTEM
from tests.workflows.test_inbox import PO, make_governed, submit
from workflows.decisions import decide_action
from workflows.models import Queue


def page(user, record) -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/governance/decisions/{record.pk}/")
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def escalation(world):
    Queue.objects.create(
        slug="procurement", name="Procurement approvals", business_unit=world.unit_a
    )
    make_governed(route="procurement", sla_seconds=600)
    return submit(world.agent_a, {"amount": 5000, "supplier": "ACME"})


def test_an_escalated_decision_shows_its_route_sla_and_queue(world, escalation):
    html = page(world.supervisor_a, escalation.action.decision)
    assert '<span class="mono">procurement</span> · SLA 10 min' in html
    assert "Procurement approvals · open" in html
    assert "SLA 10 min · due" in html


def test_it_links_back_to_the_action_and_the_escalation(world, escalation):
    html = page(world.supervisor_a, escalation.action.decision)
    assert f'href="/workflows/actions/{escalation.action_id}/"' in html
    assert f'href="/workflows/inbox/{escalation.pk}/"' in html


def test_an_escalation_the_person_may_not_work_is_named_without_a_link(world, escalation):
    html = page(world.auditor, escalation.action.decision)
    assert "Procurement approvals · open" in html
    assert f'href="/workflows/inbox/{escalation.pk}/"' not in html
    assert f'href="/workflows/actions/{escalation.action_id}/"' in html


def test_policy_versions_are_named_by_policy_and_number(world, escalation):
    html = page(world.supervisor_a, escalation.action.decision)
    assert ">Purchasing v1</a>" in html


def test_limit_counters_are_shown_by_rule_with_used_and_thresholds(world):
    make_governed()
    policy = policies.create_policy(SYSTEM, "limits", "Limits")
    draft = policy.versions.get()
    policies.add_rule(
        SYSTEM,
        draft,
        name="orders per hour",
        action_pattern="erp.purchase_order.*",
        effect="deny",
        limit_metric="actions",
        limit_scope="agent",
        limit_window="hour",
        soft_limit=Decimal(1),
        hard_limit=Decimal(5),
    )
    policies.publish(SYSTEM, draft)
    for _ in range(2):
        outcome = decide_action(
            world.agent_a, PO, {"amount": 10}, actor=SYSTEM, source="gateway", count=True
        )
    html = page(world.supervisor_a, outcome.record)
    assert "orders per hour" in html and "Limits v1" in html
    assert "Number of actions, per agent, per hour" in html
    assert '<td class="text-end mono">2</td>' in html  # used, this action included
    assert '<td class="text-end mono">1</td><td class="text-end mono">5</td>' in html


def test_a_what_if_decision_names_the_queue_its_route_would_use(world, escalation):
    record = decide_action(world.agent_a, PO, {"amount": 5000}, actor=world.coe).record
    html = page(world.coe, record)
    assert "Procurement approvals" in html and "SLA 10 min" in html
    assert "/workflows/actions/" not in html
