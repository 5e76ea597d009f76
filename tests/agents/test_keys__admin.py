"""Agent keys in the Django admin: listed without secrets, never added or edited there,
and revoked through the service so the key stops working at once."""

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from agents import services
from agents.models import AgentAPIKey
from governance.models import AuditEntry

ME = "/api/v1/me/"
CHANGELIST = "admin:agents_agentapikey_changelist"


@pytest.fixture
def coe(client, world):
    client.force_login(world.coe)
    return client


def test_keys_are_listed_without_their_secrets(coe, world):
    response = coe.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 2
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    detail = coe.get(reverse("admin:agents_agentapikey_change", args=[key.pk]))
    assert detail.status_code == 200
    assert key.prefix.encode() in detail.content
    assert world.key_a.encode() not in detail.content
    assert key.hashed_key.encode() not in detail.content


def test_keys_cannot_be_added_changed_or_deleted_in_the_admin(coe, world):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    assert coe.get(reverse("admin:agents_agentapikey_add")).status_code == 403
    change = reverse("admin:agents_agentapikey_change", args=[key.pk])
    assert coe.post(change, {"name": "renamed", "revoked": "on"}).status_code == 403
    delete = reverse("admin:agents_agentapikey_delete", args=[key.pk])
    assert coe.post(delete, {"post": "yes"}).status_code == 403
    fresh = AgentAPIKey.objects.get(pk=key.pk)
    assert (fresh.name, fresh.revoked) == (key.name, False)


def test_the_revoke_action_stops_the_key_at_once(coe, world, as_agent):
    _, spare = services.issue_key(world.builder_a, world.agent_a, name="spare")
    key = AgentAPIKey.objects.get(agent=world.agent_a, name="agent-a key")
    before = AuditEntry.objects.count()
    response = coe.post(reverse(CHANGELIST), {"action": "revoke", "_selected_action": [key.pk]})
    assert response.status_code == 302
    assert AgentAPIKey.objects.get(pk=key.pk).revoked
    assert AuditEntry.objects.count() == before + 1
    assert AuditEntry.objects.order_by("-id").first().verb == "agent.key_revoked"
    refused = as_agent(world.key_a).get(ME)
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "key_revoked")
    assert as_agent(spare).get(ME).status_code == 200


def test_revoking_an_already_revoked_key_changes_nothing(coe, world):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    services.revoke_key(world.coe, key)
    before = AuditEntry.objects.count()
    response = coe.post(reverse(CHANGELIST), {"action": "revoke", "_selected_action": [key.pk]})
    assert AuditEntry.objects.count() == before
    messages = [str(m) for m in get_messages(response.wsgi_request)]
    assert "No live keys were selected." in messages


def test_the_agent_page_lists_its_keys_read_only(coe, world):
    response = coe.get(reverse("admin:agents_agent_change", args=[world.agent_a.pk]))
    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    assert not inline.has_add_permission
    assert not inline.has_change_permission
    assert [form.instance.agent for form in inline.formset.forms] == [world.agent_a]
