"""Lifecycle buttons and the COE review queue: who may act, and refusals that change nothing."""

import pytest
from django.urls import reverse

from agents.models import Agent, AgentState
from governance.models import AuditEntry
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

REVIEW = reverse("agents:review")


def transition_url(agent, name: str) -> str:
    return reverse("agents:transition", args=[agent.slug, name])


def state_of(agent) -> str:
    return Agent.objects.get(pk=agent.pk).state


def ledger_size() -> int:
    return AuditEntry.objects.count()


@pytest.fixture
def pending(world):
    return make_agent(world.builder_a, world.unit_a, world.role, "waiting", active=False)


def test_only_the_coe_sees_the_review_queue(client, world, pending):
    for person in (world.builder_a, world.supervisor_a, world.auditor):
        client.force_login(person)
        assert client.get(REVIEW).status_code == 404
    client.force_login(world.coe)
    response = client.get(REVIEW)
    assert list(response.context["agents"]) == [pending]
    assert b"approve-waiting" in response.content


def test_the_coe_approves_from_the_queue_and_returns_to_it(client, world, pending):
    client.force_login(world.coe)
    response = client.post(transition_url(pending, "approve"), {"next": REVIEW})
    assert response.status_code == 302 and response["Location"] == REVIEW
    assert state_of(pending) == AgentState.ACTIVE
    assert AuditEntry.objects.filter(verb="agent.approve", object_id=str(pending.pk)).count() == 1


def test_a_next_url_off_the_site_is_ignored(client, world, pending):
    client.force_login(world.coe)
    response = client.post(transition_url(pending, "approve"), {"next": "https://evil.example/"})
    assert response["Location"] == reverse("agents:detail", args=[pending.slug])


def test_rejecting_without_a_note_is_refused_and_changes_nothing(client, world, pending):
    client.force_login(world.coe)
    before = ledger_size()
    response = client.post(transition_url(pending, "reject"), {"next": REVIEW}, follow=True)
    assert "A note is required to reject an agent." in response.content.decode()
    assert state_of(pending) == AgentState.PENDING_REVIEW
    assert ledger_size() == before


def test_rejecting_with_a_note_sends_the_agent_back_to_draft(client, world, pending):
    client.force_login(world.coe)
    client.post(transition_url(pending, "reject"), {"note": "Purpose is too vague."})
    assert state_of(pending) == AgentState.DRAFT
    entry = AuditEntry.objects.get(verb="agent.reject", object_id=str(pending.pk))
    assert entry.data["note"] == "Purpose is too vague."


def test_a_builder_may_not_approve_their_own_agent(client, world, pending):
    client.force_login(world.builder_a)
    before = ledger_size()
    assert client.post(transition_url(pending, "approve")).status_code == 403
    assert state_of(pending) == AgentState.PENDING_REVIEW
    assert ledger_size() == before


def test_an_illegal_transition_shows_an_error_and_changes_nothing(client, world):
    client.force_login(world.coe)
    before = ledger_size()
    response = client.post(transition_url(world.agent_a, "approve"), follow=True)
    assert "Cannot approve an agent that is active" in response.content.decode()
    assert state_of(world.agent_a) == AgentState.ACTIVE
    assert ledger_size() == before


def test_an_unknown_transition_is_not_found(client, world):
    client.force_login(world.coe)
    assert client.post(transition_url(world.agent_a, "explode")).status_code == 404


def test_the_supervisor_of_the_unit_suspends_and_resumes_with_a_note(client, world):
    client.force_login(world.supervisor_a)
    page = client.get(reverse("agents:detail", args=[world.agent_a.slug]))
    assert [t.name for t in page.context["transitions"]] == ["suspend"]
    assert b'id="note-suspend"' in page.content
    client.post(transition_url(world.agent_a, "suspend"), {"note": "Sent duplicate orders."})
    assert state_of(world.agent_a) == AgentState.SUSPENDED
    client.post(transition_url(world.agent_a, "resume"))
    assert state_of(world.agent_a) == AgentState.ACTIVE


def test_suspending_without_a_note_is_refused(client, world):
    client.force_login(world.supervisor_a)
    response = client.post(transition_url(world.agent_a, "suspend"), {"note": "  "}, follow=True)
    assert "A note is required to suspend an agent." in response.content.decode()
    assert state_of(world.agent_a) == AgentState.ACTIVE


def test_a_supervisor_of_another_unit_gets_not_found(client, world):
    client.force_login(world.supervisor_b)
    before = ledger_size()
    response = client.post(transition_url(world.agent_a, "suspend"), {"note": "x"})
    assert response.status_code == 404
    assert state_of(world.agent_a) == AgentState.ACTIVE
    assert ledger_size() == before


def test_a_builder_may_not_suspend_and_is_not_offered_the_button(client, world):
    client.force_login(world.builder_a)
    page = client.get(reverse("agents:detail", args=[world.agent_a.slug]))
    assert "suspend" not in [t.name for t in page.context["transitions"]]
    response = client.post(transition_url(world.agent_a, "suspend"), {"note": "x"})
    assert response.status_code == 403
    assert state_of(world.agent_a) == AgentState.ACTIVE


def test_retiring_revokes_every_key_and_hides_the_issue_form(client, world):
    client.force_login(world.builder_a)
    client.post(transition_url(world.agent_a, "retire"))
    assert state_of(world.agent_a) == AgentState.RETIRED
    assert not world.agent_a.api_keys.filter(revoked=False).exists()
    page = client.get(reverse("agents:detail", args=[world.agent_a.slug]))
    assert b'id="issue-key-form"' not in page.content
