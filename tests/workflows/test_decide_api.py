"""POST /api/v1/policies/decide/: what would happen, nothing executed."""

import pytest

from governance import policies
from governance.models import AuditEntry, DecisionRecord, Policy

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


@pytest.fixture
def draft_denying_big_pos(world, allow_all_pos):
    draft = policies.create_draft(
        world.coe, Policy.objects.for_person(world.coe).get(slug="purchasing")
    )
    policies.add_rule(
        world.coe,
        draft,
        name="big POs",
        action_pattern="erp.purchase_order.*",
        condition="payload.amount > 1000",
        effect="deny",
    )
    return draft


def test_coe_staff_decide_against_a_draft_as_well_as_the_published_version(
    world, draft_denying_big_pos, as_user
):
    question = {
        "agent": "agent-a",
        "action": "erp.purchase_order.create",
        "payload": {"amount": 5000},
    }
    published = as_user(world.coe).post(URL, question, format="json").json()
    assert published["effect"] == "allow"
    drafted = as_user(world.coe).post(
        URL, {**question, "policy_version": draft_denying_big_pos.pk}, format="json"
    )
    assert drafted.status_code == 200
    body = drafted.json()
    assert body["effect"] == "deny"
    assert [m["name"] for m in body["matched"]] == ["POs", "big POs"]
    assert str(draft_denying_big_pos.pk) in body["policy_version_ids"]
    record = DecisionRecord.objects.get(pk=body["decision_id"])
    assert record.source == "what_if"
    entry = AuditEntry.objects.get(verb="decision.made", object_id=str(record.pk))
    assert entry.data["against_version"] == draft_denying_big_pos.pk


def test_only_coe_staff_decide_against_a_draft_and_only_a_draft(
    world, draft_denying_big_pos, as_user
):
    question = {"agent": "agent-a", "action": "erp.purchase_order.create"}
    before = DecisionRecord.objects.count()
    builder = as_user(world.builder_a).post(
        URL, {**question, "policy_version": draft_denying_big_pos.pk}, format="json"
    )
    assert builder.status_code == 403
    published = draft_denying_big_pos.policy.versions.get(state="published")
    not_a_draft = as_user(world.coe).post(
        URL, {**question, "policy_version": published.pk}, format="json"
    )
    assert not_a_draft.status_code == 400
    assert "policy_version" in not_a_draft.json()["error"]["fields"]
    assert DecisionRecord.objects.count() == before
