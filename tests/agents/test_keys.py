"""Agent keys through the services: several live side by side for rotation, and a
revoked key stops working on the very next request."""

import pytest

from agents import services
from agents.models import AgentAPIKey
from governance.models import AuditEntry

ME = "/api/v1/me/"


def test_several_keys_of_one_agent_work_side_by_side(world, as_agent):
    _, second = services.issue_key(world.builder_a, world.agent_a, name="second")
    _, third = services.issue_key(world.coe, world.agent_a, name="third")
    assert len({world.key_a, second, third}) == 3
    for secret in (world.key_a, second, third):
        response = as_agent(secret).get(ME)
        assert response.status_code == 200
        assert response.json()["slug"] == "agent-a"


def test_rotation_revokes_the_old_key_and_keeps_the_new_one(world, as_agent):
    new_key, new_secret = services.issue_key(world.builder_a, world.agent_a, name="rotated")
    old_key = AgentAPIKey.objects.get(agent=world.agent_a, name="agent-a key")
    services.revoke_key(world.builder_a, old_key)
    refused = as_agent(world.key_a).get(ME)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "key_revoked"
    assert as_agent(new_secret).get(ME).status_code == 200
    assert AgentAPIKey.objects.get(pk=new_key.pk).revoked is False


def test_a_revoke_takes_effect_on_the_very_next_request(world, as_agent):
    client = as_agent(world.key_a)
    assert client.get(ME).status_code == 200
    services.revoke_key(world.coe, AgentAPIKey.objects.get(agent=world.agent_a))
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "key_revoked"


def test_revoking_writes_one_ledger_entry_naming_the_key(world):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    before = AuditEntry.objects.count()
    revoked = services.revoke_key(world.builder_a, key)
    assert revoked.revoked and revoked.revoked_at is not None
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.verb == "agent.key_revoked"
    assert entry.object_id == str(world.agent_a.pk)
    assert entry.data["key_prefix"] == key.prefix
    assert key.prefix in world.key_a and world.key_a not in str(entry.data)


def test_it_refuses_to_revoke_a_key_twice(world):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    services.revoke_key(world.builder_a, key)
    before = AuditEntry.objects.count()
    with pytest.raises(services.InvalidTransition, match="already revoked"):
        services.revoke_key(world.builder_a, key)
    assert AuditEntry.objects.count() == before


@pytest.mark.parametrize("persona", ["supervisor_b", "supervisor_a", "auditor"])
def test_only_owners_builders_and_coe_manage_keys(world, persona, as_agent):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    before = (AuditEntry.objects.count(), AgentAPIKey.objects.count())
    with pytest.raises(services.NotAllowed):
        services.revoke_key(getattr(world, persona), key)
    with pytest.raises(services.NotAllowed):
        services.issue_key(getattr(world, persona), world.agent_a)
    assert (AuditEntry.objects.count(), AgentAPIKey.objects.count()) == before
    assert as_agent(world.key_a).get(ME).status_code == 200


def test_a_key_records_when_it_was_last_used(world, as_agent):
    key = AgentAPIKey.objects.get(agent=world.agent_a)
    assert key.last_used_at is None
    as_agent(world.key_a).get(ME)
    assert AgentAPIKey.objects.get(pk=key.pk).last_used_at is not None


def test_a_suspended_agents_keys_stop_until_it_is_resumed(world, as_agent):
    client = as_agent(world.key_a)
    services.transition(world.supervisor_a, world.agent_a, "suspend", "Odd behaviour.")
    refused = client.get(ME)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "agent_suspended"
    services.transition(world.supervisor_a, world.agent_a, "resume")
    assert client.get(ME).status_code == 200
