"""POST /api/v1/policies/decide/: what would happen, nothing executed."""

import pytest

from governance import policies
from governance.models import DecisionRecord

URL = "/api/v1/policies/decide/"


@pytest.fixture
def allow_all_pos(world):
    policy = policies.create_policy(world.coe, "purchasing", "Purchasing")
    policies.add_rule(
        world.coe,
        policy.versions.get(),
        name="POs",
        action_pattern="erp.purchase_order.*",
        effect="allow",
    )
    policies.publish(world.coe, policy.versions.get())


def test_a_builder_asks_about_their_own_agent(world, allow_all_pos, as_user):
    response = as_user(world.builder_a).post(
        URL,
        {"agent": "agent-a", "action": "erp.purchase_order.create", "payload": {"amount": 5}},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert body["effect"] == "allow"
    assert [m["name"] for m in body["matched"]] == ["POs"]
    assert DecisionRecord.objects.get(pk=body["decision_id"]).source == "what_if"


def test_another_units_agent_is_404_and_nothing_is_recorded(world, allow_all_pos, as_user):
    before = DecisionRecord.objects.count()
    response = as_user(world.builder_a).post(
        URL, {"agent": "agent-b", "action": "erp.purchase_order.create"}, format="json"
    )
    assert response.status_code == 404
    assert DecisionRecord.objects.count() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent": "agent-a", "action": "not a name"}, "action"),
        ({"agent": "agent-a", "action": "a.b", "payload": [1]}, "payload"),
        ({"action": "a.b"}, "agent"),
        ({"agent": "agent-a", "action": "a.b", "execute": True}, "execute"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(world, as_user, body, field):
    response = as_user(world.coe).post(URL, body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_agents_and_supervisors_cannot_ask(world, as_agent, as_user):
    body = {"agent": "agent-a", "action": "erp.purchase_order.create"}
    assert as_agent(world.key_a).post(URL, body, format="json").status_code == 403
    assert as_user(world.supervisor_a).post(URL, body, format="json").status_code == 404
