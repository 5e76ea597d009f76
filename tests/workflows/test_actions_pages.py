"""An action's page and the filtered activity feed: scoped to the person's business units,
linked from the rows, filters that say what is wrong with them."""

import pytest
from django.test import Client
from django.utils import timezone

from tests.workflows.factories import make_action
from tests.workflows.test_inbox import make_governed, submit
from workflows.models import ActionRequest, ActionState, ConnectorAttempt

FEED = "/workflows/activity/"


def client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def escalation(world):
    make_governed()
    return submit(world.agent_a, {"amount": 5000, "supplier": "ACME", "iban": "DE00SECRET"})


def action_url(action) -> str:
    return f"/workflows/actions/{action.pk}/"


def test_an_actions_page_shows_its_state_decision_escalation_and_payload(world, escalation):
    action = escalation.action
    page = client_for(world.supervisor_a).get(action_url(action))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Pending approval" in html
    assert f'href="/governance/decisions/{action.decision_id}/"' in html
    assert f'href="/workflows/inbox/{escalation.pk}/"' in html
    assert "ACME" in html and "DE00SECRET" not in html  # the IBAN is a keyed hash


def test_an_actions_page_shows_attempts_and_outcome(world, escalation):
    action = escalation.action
    ActionRequest.objects.filter(pk=action.pk).update(
        state=ActionState.FAILED, error="The ERP refused the supplier."
    )
    ConnectorAttempt.objects.create(
        action=action,
        number=1,
        idempotency_key=str(action.pk),
        started_at=timezone.now(),
        outcome=ConnectorAttempt.Outcome.PERMANENT_ERROR,
        target="POST https://erp.example/orders",
        status_code=422,
    )
    html = client_for(world.coe).get(action_url(action)).content.decode()
    assert "The ERP refused the supplier." in html
    assert "POST https://erp.example/orders" in html and "(422)" in html


def test_an_escalation_a_person_may_not_work_is_named_but_not_linked(world, escalation):
    html = client_for(world.auditor).get(action_url(escalation.action)).content.decode()
    assert escalation.queue.name in html
    assert f'href="/workflows/inbox/{escalation.pk}/"' not in html


def test_an_action_outside_a_persons_units_is_a_404(world, escalation):
    assert client_for(world.supervisor_b).get(action_url(escalation.action)).status_code == 404


def test_the_feed_links_each_row_to_its_action(world, escalation):
    html = client_for(world.supervisor_a).get(FEED).content.decode()
    assert f'href="{action_url(escalation.action)}"' in html


def test_the_feed_filters_by_unit_agent_action_and_outcome(world, escalation):
    other = make_action(
        world.agent_a, escalation.action.action_type, state=ActionState.SUCCEEDED, payload={}
    )
    theirs = make_action(world.agent_b, escalation.action.action_type, payload={})
    client = client_for(world.coe)

    def listed(**params) -> set[str]:
        response = client.get(FEED, params)
        assert response.status_code == 200
        return {str(action.pk) for action in response.context["actions"]}

    mine, done = str(escalation.action_id), str(other.pk)
    assert listed(state="succeeded") == {done}
    assert listed(agent="agent-a") == {mine, done}
    assert listed(business_unit="unit-b") == {str(theirs.pk)}
    assert listed(action="erp.purchase_order.create", state="pending_approval") == {mine}


def test_a_filtered_feed_takes_only_matching_live_rows(world, escalation):
    html = client_for(world.supervisor_a).get(FEED, {"state": "denied"}).content.decode()
    assert 'data-live-rows="activity" data-match-state="denied"' in html
    assert "state=denied" in html  # the re-sync keeps the filters


def test_bad_feed_filters_are_shown_and_change_nothing(world, escalation):
    client = client_for(world.supervisor_a)
    response = client.get(FEED, {"state": "exploded", "agent": "agent-b"})
    assert response.status_code == 400
    errors = response.context["filterset"].form.errors
    assert set(errors) == {"state", "agent"}
    assert "These filters cannot be applied" in response.content.decode()
    htmx = client.get(
        FEED, {"state": "exploded"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="activity-results"
    )
    assert htmx.status_code == 200
    assert 'id="activity-filter-errors"' in htmx.content.decode()


def test_the_feeds_resync_answers_only_its_rows(world, escalation):
    response = client_for(world.supervisor_a).get(
        FEED, {"limit": 10}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="activity-rows"
    )
    html = response.content.decode().strip()
    assert html.startswith('<tbody id="activity-rows"')
    assert f"activity-{escalation.action_id}" in html
