"""What the gateway keeps in memory between requests (API keys with their agents, the
action catalogue) is dropped on the very next request after a change, in this process
and, through the shared epochs, in every other."""

import uuid

from agents import services as agent_services
from governance import epochs
from tests.workflows.test_gateway import PO, URL, governed  # noqa: F401 (fixture)
from workflows import catalog
from workflows.models import ActionType


def post(client, payload):
    return client.post(
        URL,
        {"action": PO, "payload": payload},
        format="json",
        HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )


def test_a_role_change_reaches_the_next_request_of_a_cached_key(world, governed, as_agent):  # noqa: F811
    client = as_agent(world.key_a)
    assert post(client, {"amount": 10}).status_code == 201
    agent_services.update_role(world.coe, world.role, action_patterns=["crm.*"])
    refused = post(client, {"amount": 10})
    assert refused.status_code == 403
    assert refused.json()["decision"]["effect"] == "deny"


def test_suspending_an_agent_reaches_the_next_request_of_a_cached_key(world, governed, as_agent):  # noqa: F811
    client = as_agent(world.key_a)
    assert post(client, {"amount": 10}).status_code == 201
    agent_services.transition(world.supervisor_a, world.agent_a, "suspend", "test")
    locked = post(client, {"amount": 10})
    assert locked.status_code == 423
    assert locked.json()["error"]["code"] == "agent_suspended"


def test_the_catalogue_copy_follows_saved_action_types(world, governed):  # noqa: F811
    first = catalog.action_type_named(PO)
    assert first is not None and first.risk_tier == "low"
    row = ActionType.objects.get(name=PO)
    row.risk_tier = "high"
    row.save()
    assert catalog.action_type_named(PO).risk_tier == "high"
    row.delete()
    assert catalog.action_type_named(PO) is None


def test_the_catalogue_copy_follows_a_change_made_by_another_process(world, governed):  # noqa: F811
    assert catalog.action_type_named(PO).risk_tier == "low"
    # Another process saves the row and bumps the shared epoch; this process only sees
    # the database row and the epoch.
    ActionType.objects.filter(name=PO).update(risk_tier="critical")
    assert catalog.action_type_named(PO).risk_tier == "low"  # still this process's copy
    epochs.bump_now_and_on_commit(catalog.EPOCH)
    assert catalog.action_type_named(PO).risk_tier == "critical"


def test_a_copy_handed_out_is_the_callers_own(world, governed):  # noqa: F811
    mine = catalog.action_type_named(PO)
    mine.risk_tier = "critical"
    assert catalog.action_type_named(PO).risk_tier == "low"
