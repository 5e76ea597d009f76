"""Agents and roles in the Django admin: the state moves only through lifecycle actions
(which call the service and write the ledger), edits keep model validation and are
recorded, and history is shown but never reverted."""

import json

import pytest
from django.contrib.messages import get_messages
from django.urls import reverse

from agents import services
from agents.models import Agent, AgentRole, AgentState
from governance.models import AuditEntry

CHANGELIST = "admin:agents_agent_changelist"
NO_KEY_ROWS = {"api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0"}


@pytest.fixture
def coe(client, world):
    client.force_login(world.coe)
    return client


def act(client, action: str, agents, note: str = ""):
    return client.post(
        reverse(CHANGELIST),
        {"action": action, "_selected_action": [agent.pk for agent in agents], "note": note},
    )


def texts(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def agent_form(agent: Agent, **changes) -> dict:
    data = {
        "name": agent.name,
        "purpose": agent.purpose,
        "business_unit": agent.business_unit_id,
        "role": agent.role_id,
        "capabilities": json.dumps(agent.capabilities),
        "autonomy_level": agent.autonomy_level,
        "owner": agent.owner_id,
    }
    return data | changes | NO_KEY_ROWS


def register(world, slug: str = "pending-one") -> Agent:
    return services.register_agent(
        world.builder_a,
        slug=slug,
        name="Pending One",
        purpose="Waits for review.",
        business_unit=world.unit_a,
        role=world.role,
    )


def test_approving_in_the_admin_runs_the_transition(coe, world):
    agent = register(world)
    before = AuditEntry.objects.count()
    response = act(coe, "approve", [agent])
    assert response.status_code == 302
    assert Agent.objects.get(pk=agent.pk).state == AgentState.ACTIVE
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.actor_name) == ("agent.approve", "coe")
    assert "Approve: 1 agent(s)." in texts(response)


def test_suspending_without_a_note_is_refused_with_a_message(coe, world):
    before = AuditEntry.objects.count()
    response = act(coe, "suspend", [world.agent_a])
    assert Agent.objects.get(pk=world.agent_a.pk).state == AgentState.ACTIVE
    assert AuditEntry.objects.count() == before
    assert any("A note is required to suspend" in text for text in texts(response))


def test_suspend_resume_and_retire_with_a_note(coe, world):
    act(coe, "suspend", [world.agent_a, world.agent_b], note="Incident 42.")
    assert set(Agent.objects.values_list("state", flat=True)) == {AgentState.SUSPENDED}
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.data == {"from": "active", "to": "suspended", "note": "Incident 42."}
    act(coe, "resume", [world.agent_a])
    assert Agent.objects.get(pk=world.agent_a.pk).state == AgentState.ACTIVE
    act(coe, "retire", [world.agent_a])
    assert Agent.objects.get(pk=world.agent_a.pk).state == AgentState.RETIRED
    assert not world.agent_a.api_keys.filter(revoked=False).exists()


def test_an_illegal_action_names_the_agent_and_moves_nothing(coe, world):
    pending = register(world)
    before = AuditEntry.objects.count()
    response = act(coe, "approve", [world.agent_a, pending])
    assert Agent.objects.get(pk=pending.pk).state == AgentState.ACTIVE
    assert AuditEntry.objects.count() == before + 1
    assert any(
        text.startswith("Agent A: Cannot approve an agent that is active")
        for text in texts(response)
    )


def test_the_state_is_read_only_on_the_change_form(coe, world):
    url = reverse("admin:agents_agent_change", args=[world.agent_a.pk])
    response = coe.post(url, agent_form(world.agent_a, state="retired", slug="renamed"))
    assert response.status_code == 302
    agent = Agent.objects.get(pk=world.agent_a.pk)
    assert (agent.state, agent.slug) == (AgentState.ACTIVE, "agent-a")


def test_an_edit_is_recorded_with_what_changed(coe, world):
    url = reverse("admin:agents_agent_change", args=[world.agent_a.pk])
    response = coe.post(
        url,
        agent_form(world.agent_a, name="Agent A Prime", capabilities='["testing", "triage"]'),
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.verb == "agent.updated"
    assert entry.business_unit_id == world.unit_a.pk
    assert entry.data["changes"] == {
        "name": {"before": "Agent A", "after": "Agent A Prime"},
        "capabilities": {"before": ["testing"], "after": ["testing", "triage"]},
    }
    assert Agent.objects.get(pk=world.agent_a.pk).history.first().history_user == world.coe


def test_an_edit_keeps_model_validation(coe, world):
    before = AuditEntry.objects.count()
    url = reverse("admin:agents_agent_change", args=[world.agent_a.pk])
    response = coe.post(url, agent_form(world.agent_a, capabilities='["not a tag!"]'))
    assert response.status_code == 200
    assert "capabilities" in response.context["adminform"].form.errors
    assert Agent.objects.get(pk=world.agent_a.pk).capabilities == ["testing"]
    assert AuditEntry.objects.count() == before


def test_an_edit_does_not_undo_a_transition_made_meanwhile(coe, world):
    url = reverse("admin:agents_agent_change", args=[world.agent_a.pk])
    loaded = coe.get(url)
    assert loaded.context["original"].state == AgentState.ACTIVE
    services.transition(world.supervisor_a, world.agent_a, "suspend", "Meanwhile.")
    coe.post(url, agent_form(world.agent_a, name="Renamed"))
    agent = Agent.objects.get(pk=world.agent_a.pk)
    assert (agent.name, agent.state) == ("Renamed", AgentState.SUSPENDED)
    assert agent.history.first().state == AgentState.SUSPENDED


def test_adding_an_agent_in_the_admin_registers_it_for_review(coe, world):
    response = coe.post(
        reverse("admin:agents_agent_add"),
        {
            "slug": "coe-helper",
            "name": "COE Helper",
            "purpose": "Helps.",
            "business_unit": world.unit_b.pk,
            "role": world.role.pk,
            "capabilities": "[]",
            "autonomy_level": 1,
            "state": "active",
        }
        | NO_KEY_ROWS,
    )
    assert response.status_code == 302
    agent = Agent.objects.get(slug="coe-helper")
    assert (agent.state, agent.owner) == (AgentState.PENDING_REVIEW, world.coe)
    assert AuditEntry.objects.order_by("-id").first().verb == "agent.registered"


def test_agent_history_is_shown_and_cannot_be_reverted(coe, world):
    history = coe.get(reverse("admin:agents_agent_history", args=[world.agent_a.pk]))
    assert history.status_code == 200
    first = world.agent_a.history.earliest()  # registered: pending review
    url = reverse("admin:agents_agent_simple_history", args=[world.agent_a.pk, first.history_id])
    assert coe.get(url).status_code == 200
    assert coe.post(url, agent_form(world.agent_a)).status_code == 403
    assert Agent.objects.get(pk=world.agent_a.pk).state == AgentState.ACTIVE


def test_agents_cannot_be_deleted_in_the_admin(coe, world):
    url = reverse("admin:agents_agent_delete", args=[world.agent_a.pk])
    assert coe.post(url, {"post": "yes"}).status_code == 403
    assert Agent.objects.filter(pk=world.agent_a.pk).exists()


def role_form(**changes) -> dict:
    data = {
        "slug": "responder",
        "name": "Responder",
        "description": "Answers tickets.",
        "action_patterns": '["crm.ticket.*"]',
        "data_classifications": '["internal"]',
        "default_autonomy_level": 1,
        "default_limits": '{"actions_per_hour": 60}',
    }
    return data | changes


def test_adding_a_role_in_the_admin_is_recorded(coe, world):
    response = coe.post(reverse("admin:agents_agentrole_add"), role_form())
    assert response.status_code == 302
    role = AgentRole.objects.get(slug="responder")
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.object_id) == ("role.created", str(role.pk))
    assert entry.data["action_patterns"] == ["crm.ticket.*"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action_patterns", '["CRM Ticket"]'),
        ("data_classifications", '["secret"]'),
        ("default_limits", "[1, 2]"),
    ],
)
def test_a_role_with_invalid_fields_is_a_form_error(coe, world, field, value):
    before = AuditEntry.objects.count()
    response = coe.post(reverse("admin:agents_agentrole_add"), role_form(**{field: value}))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not AgentRole.objects.filter(slug="responder").exists()
    assert AuditEntry.objects.count() == before


def test_editing_a_role_records_what_changed(coe, world):
    url = reverse("admin:agents_agentrole_change", args=[world.role.pk])
    response = coe.post(
        url,
        role_form(
            slug=world.role.slug,
            name=world.role.name,
            description="",
            action_patterns='["erp.purchase_order.*", "erp.supplier.read"]',
            default_autonomy_level=world.role.default_autonomy_level,
            default_limits="{}",
        ),
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.order_by("-id").first()
    assert entry.verb == "role.updated"
    assert entry.data["changes"] == {
        "action_patterns": {
            "before": ["erp.purchase_order.*"],
            "after": ["erp.purchase_order.*", "erp.supplier.read"],
        }
    }
