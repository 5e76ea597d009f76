"""Agent list and detail pages: scoping, filtering, pagination, htmx fragments, keys."""

import pytest
from django.urls import reverse

from agents.models import Agent, AgentAPIKey, AgentState
from governance.models import AuditEntry
from tests.factories import make_agent

pytestmark = pytest.mark.django_db

LIST = reverse("agents:list")


def detail(agent) -> str:
    return reverse("agents:detail", args=[agent.slug])


def signed_in(client, user):
    client.force_login(user)
    return client


def test_anonymous_visitors_are_sent_to_sign_in(client, world):
    response = client.get(detail(world.agent_a))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_builder_a_sees_only_agents_of_unit_a_in_the_list(client, world):
    response = signed_in(client, world.builder_a).get(LIST)
    assert response.status_code == 200
    assert list(response.context["agents"]) == [world.agent_a]
    assert b"agent-b" not in response.content


def test_the_coe_sees_every_agent_in_the_list(client, world):
    response = signed_in(client, world.coe).get(LIST)
    assert set(response.context["agents"]) == {world.agent_a, world.agent_b}


def test_the_business_unit_filter_offers_only_units_in_scope(client, world):
    response = signed_in(client, world.builder_a).get(LIST)
    choices = list(response.context["filterset"].form.fields["business_unit"].queryset)
    assert choices == [world.unit_a]


def test_filtering_by_another_units_id_reveals_nothing_of_it(client, world):
    response = signed_in(client, world.builder_a).get(LIST, {"business_unit": world.unit_b.slug})
    assert b"agent-b" not in response.content
    assert world.agent_b not in list(response.context["agents"])


def test_the_list_filters_by_state_and_searches_names(client, world):
    make_agent(world.builder_a, world.unit_a, world.role, "invoice-matcher", active=False)
    client = signed_in(client, world.builder_a)
    pending = client.get(LIST, {"state": AgentState.PENDING_REVIEW})
    assert [a.slug for a in pending.context["agents"]] == ["invoice-matcher"]
    searched = client.get(LIST, {"q": "invoice"})
    assert [a.slug for a in searched.context["agents"]] == ["invoice-matcher"]
    by_role = client.get(LIST, {"role": world.role.slug})
    assert {a.slug for a in by_role.context["agents"]} == {"agent-a", "invoice-matcher"}


def test_the_list_shows_25_agents_per_page(client, world):
    for n in range(30):
        make_agent(world.builder_a, world.unit_a, world.role, f"bulk-{n:02d}", active=False)
    client = signed_in(client, world.builder_a)
    first = client.get(LIST)
    second = client.get(LIST, {"page": 2})
    assert len(first.context["agents"]) == 25
    assert len(second.context["agents"]) == 6
    assert b"page 2 of 2" in second.content


def test_an_htmx_filter_request_returns_only_the_table_fragment(client, world):
    response = signed_in(client, world.builder_a).get(
        LIST, {"q": "agent"}, headers={"HX-Request": "true"}
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="agent-table">')
    assert "<html" not in body and '<nav class="navbar' not in body
    assert "agent-a" in body
    assert "HX-Request" in response["Vary"]


def test_a_boosted_htmx_request_gets_the_whole_page(client, world):
    response = signed_in(client, world.builder_a).get(
        LIST, headers={"HX-Request": "true", "HX-Boosted": "true"}
    )
    assert b"<html" in response.content


def test_the_detail_page_shows_identity_keys_history_and_ledger(client, world):
    response = signed_in(client, world.builder_a).get(detail(world.agent_a))
    body = response.content.decode()
    assert response.status_code == 200
    assert world.agent_a.purpose in body
    assert "erp.purchase_order.*" in body  # the role's granted pattern
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    assert key.prefix in body
    assert "agent.registered" in body and "agent.approve" in body and "agent.key_issued" in body
    assert len(response.context["history"]) == world.agent_a.history.count()


def test_an_agent_outside_scope_is_not_found(client, world):
    client = signed_in(client, world.builder_a)
    assert client.get(detail(world.agent_b)).status_code == 404
    assert client.post(reverse("agents:issue-key", args=["agent-b"])).status_code == 404
    assert AgentAPIKey.objects.filter(agent=world.agent_b).count() == 1


def test_the_new_key_secret_is_shown_once_and_never_again(client, world):
    client = signed_in(client, world.builder_a)
    url = reverse("agents:issue-key", args=[world.agent_a.slug])
    response = client.post(url, {"name": "worker"})
    secret = response.context["new_secret"]
    assert response.status_code == 200
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    key = AgentAPIKey.objects.get(agent=world.agent_a, name="worker")
    assert secret.startswith(key.prefix + ".")
    assert AgentAPIKey.objects.get_from_key(secret) == key
    assert secret not in client.get(detail(world.agent_a)).content.decode()


def test_issuing_a_key_over_htmx_returns_only_the_keys_card(client, world):
    response = signed_in(client, world.builder_a).post(
        reverse("agents:issue-key", args=[world.agent_a.slug]),
        {"name": "worker"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section class="card" id="keys">')
    assert response.context["new_secret"] in body
    assert "<html" not in body
    # The ledger card is refreshed out of band, so the new entry shows at once.
    assert '<section class="card" id="ledger" hx-swap-oob="true">' in body
    assert "agent.key_issued" in body


def test_a_key_expiring_in_the_past_is_refused_and_nothing_is_written(client, world):
    keys, entries = AgentAPIKey.objects.count(), AuditEntry.objects.count()
    response = signed_in(client, world.builder_a).post(
        reverse("agents:issue-key", args=[world.agent_a.slug]),
        {"name": "old", "expires_at": "2001-01-01T00:00"},
    )
    assert response.status_code == 400
    assert "The expiry must be in the future." in response.content.decode()
    assert (AgentAPIKey.objects.count(), AuditEntry.objects.count()) == (keys, entries)


def test_a_supervisor_may_not_issue_keys_and_is_not_offered_the_form(client, world):
    client = signed_in(client, world.supervisor_a)
    page = client.get(detail(world.agent_a))
    assert page.context["can_manage_keys"] is False
    assert b'id="issue-key-form"' not in page.content
    response = client.post(reverse("agents:issue-key", args=[world.agent_a.slug]))
    assert response.status_code == 403
    assert AgentAPIKey.objects.filter(agent=world.agent_a).count() == 1


def test_the_owner_revokes_a_key_and_the_ledger_records_it(client, world):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    url = reverse("agents:revoke-key", args=[world.agent_a.slug, key.prefix])
    response = signed_in(client, world.builder_a).post(url, headers={"HX-Request": "true"})
    key.refresh_from_db()
    assert response.status_code == 200
    assert key.revoked and key.revoked_at is not None
    assert f"Key {key.prefix} revoked." in response.content.decode()
    assert AuditEntry.objects.filter(verb="agent.key_revoked", object_id=str(world.agent_a.pk))


def test_revoking_a_key_twice_says_so_and_changes_nothing(client, world):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    url = reverse("agents:revoke-key", args=[world.agent_a.slug, key.prefix])
    client = signed_in(client, world.builder_a)
    client.post(url)
    entries = AuditEntry.objects.count()
    response = client.post(url, follow=True)
    assert "This key is already revoked." in response.content.decode()
    assert AuditEntry.objects.count() == entries


def test_a_key_of_another_units_agent_cannot_be_revoked(client, world):
    key_b = AgentAPIKey.objects.get(agent=world.agent_b)
    client = signed_in(client, world.builder_a)
    through_b = reverse("agents:revoke-key", args=[world.agent_b.slug, key_b.prefix])
    through_a = reverse("agents:revoke-key", args=[world.agent_a.slug, key_b.prefix])
    assert client.post(through_b).status_code == 404
    assert client.post(through_a).status_code == 404
    assert not AgentAPIKey.objects.get(pk=key_b.pk).revoked


def test_the_navigation_matches_what_each_person_may_do(client, world):
    make_agent(world.builder_a, world.unit_a, world.role, "waiting", active=False)
    coe = signed_in(client, world.coe).get(LIST).content.decode()
    assert 'id="nav-review-count">1<' in coe and "Admin" in coe
    client.logout()
    builder = signed_in(client, world.builder_a).get(LIST).content.decode()
    assert "Register agent" in builder and "Review queue" not in builder
    client.logout()
    supervisor = signed_in(client, world.supervisor_a).get(LIST).content.decode()
    assert "Register agent" not in supervisor and "API docs" in supervisor


def test_agents_listed_are_never_counted_across_units(client, world):
    response = signed_in(client, world.supervisor_b).get(LIST)
    assert (
        response.context["page"].paginator.count
        == Agent.objects.filter(business_unit=world.unit_b).count()
    )
