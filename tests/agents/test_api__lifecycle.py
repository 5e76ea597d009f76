"""Lifecycle transitions through the API: each legal one writes exactly one ledger entry;
an illegal one is a 409 that writes nothing; who may act is checked, outside scope is 404."""

import pytest

from agents.models import Agent, AgentState
from governance.models import AuditEntry

URL = "/api/v1/agents/"


def transition(client, slug: str, name: str, note: str = ""):
    body = {"note": note} if note else {}
    return client.post(f"{URL}{slug}/{name}/", body, format="json")


def entries_for(agent: Agent):
    return AuditEntry.objects.filter(object_type="agents.agent", object_id=str(agent.pk))


def test_every_legal_transition_writes_exactly_one_ledger_entry(world, as_user):
    builder, coe, supervisor = (
        as_user(world.builder_a),
        as_user(world.coe),
        as_user(world.supervisor_a),
    )
    created = builder.post(
        URL,
        {
            "slug": "new-agent",
            "name": "New agent",
            "purpose": "Testing the lifecycle.",
            "business_unit": "unit-a",
            "role": "buyer",
        },
        format="json",
    )
    assert created.status_code == 201
    agent = Agent.objects.get(slug="new-agent")
    steps = [
        (coe, "reject", "Purpose too vague.", AgentState.DRAFT),
        (builder, "submit", "", AgentState.PENDING_REVIEW),
        (coe, "approve", "Looks good.", AgentState.ACTIVE),
        (supervisor, "suspend", "Odd behaviour.", AgentState.SUSPENDED),
        (supervisor, "resume", "", AgentState.ACTIVE),
        (builder, "retire", "", AgentState.RETIRED),
    ]
    for client, name, note, target in steps:
        audit_before = AuditEntry.objects.count()
        response = transition(client, "new-agent", name, note)
        assert response.status_code == 200, (name, response.json())
        assert response.json()["state"] == target
        assert AuditEntry.objects.count() == audit_before + 1, name
        entry = entries_for(agent).order_by("-id").first()
        assert (entry.verb, entry.data["to"], entry.data["note"]) == (f"agent.{name}", target, note)


@pytest.mark.parametrize("name", ["approve", "submit", "resume", "reject"])
def test_an_illegal_transition_is_a_conflict_that_writes_nothing(world, as_user, name):
    audit_before = AuditEntry.objects.count()
    response = transition(as_user(world.coe), "agent-a", name, note="A note.")
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "invalid_transition"
    assert f"Cannot {name} an agent that is active" in error["message"]
    assert AuditEntry.objects.count() == audit_before
    assert Agent.objects.get(slug="agent-a").state == AgentState.ACTIVE


def test_a_retired_agent_cannot_come_back(world, as_user):
    coe = as_user(world.coe)
    assert transition(coe, "agent-a", "retire").status_code == 200
    audit_before = AuditEntry.objects.count()
    response = transition(coe, "agent-a", "resume")
    assert response.status_code == 409
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize("name", ["suspend", "reject"])
def test_it_requires_a_note_to_suspend_or_reject(world, as_user, name):
    audit_before = AuditEntry.objects.count()
    response = transition(as_user(world.coe), "agent-a", name)
    assert response.status_code == 400
    assert "note" in response.json()["error"]["fields"]
    assert AuditEntry.objects.count() == audit_before


@pytest.mark.parametrize(
    ("person", "name"),
    [
        ("builder_a", "approve"),
        ("builder_a", "suspend"),
        ("auditor", "suspend"),
        ("auditor", "retire"),
        ("supervisor_a", "retire"),
    ],
)
def test_a_person_who_sees_the_agent_but_may_not_act_is_forbidden(world, as_user, person, name):
    audit_before = AuditEntry.objects.count()
    response = transition(as_user(getattr(world, person)), "agent-a", name, note="Because.")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert AuditEntry.objects.count() == audit_before
    assert Agent.objects.get(slug="agent-a").state == AgentState.ACTIVE


@pytest.mark.parametrize("name", ["suspend", "retire", "approve"])
def test_a_person_who_cannot_see_the_agent_gets_not_found(world, as_user, name):
    audit_before = AuditEntry.objects.count()
    response = transition(as_user(world.supervisor_b), "agent-a", name, note="Because.")
    assert response.status_code == 404
    assert AuditEntry.objects.count() == audit_before


def test_it_refuses_fields_other_than_the_note(world, as_user):
    audit_before = AuditEntry.objects.count()
    response = as_user(world.supervisor_a).post(
        f"{URL}agent-a/suspend/", {"note": "Odd.", "state": "retired"}, format="json"
    )
    assert response.status_code == 400
    assert "state" in response.json()["error"]["fields"]
    assert AuditEntry.objects.count() == audit_before
    assert Agent.objects.get(slug="agent-a").state == AgentState.ACTIVE
