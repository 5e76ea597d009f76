"""The registration form: only the builder's units and COE roles, nothing else is settable."""

import pytest
from django.urls import reverse

from agents.models import Agent, AgentState, AutonomyLevel
from governance.models import AuditEntry
from tests.factories import make_role

pytestmark = pytest.mark.django_db

REGISTER = reverse("agents:register")


def valid_post(world, **overrides) -> dict:
    data = {
        "slug": "invoice-matcher",
        "name": "Invoice matcher",
        "purpose": "Matches supplier invoices to purchase orders.",
        "business_unit": world.unit_a.pk,
        "role": world.role.pk,
        "capabilities": "Invoices, matching, invoices",
        "autonomy_level": "",
    }
    data.update(overrides)
    return data


def counts() -> tuple[int, int]:
    return Agent.objects.count(), AuditEntry.objects.count()


def test_the_form_offers_only_the_builders_units_and_the_coe_roles(client, world):
    other_role = make_role("analyst", patterns=("crm.*",))
    client.force_login(world.builder_a)
    form = client.get(REGISTER).context["form"]
    assert list(form.fields["business_unit"].queryset) == [world.unit_a]
    assert set(form.fields["role"].queryset) == {world.role, other_role}


def test_a_builder_registers_an_agent_that_awaits_review(client, world):
    client.force_login(world.builder_a)
    response = client.post(REGISTER, valid_post(world))
    agent = Agent.objects.get(slug="invoice-matcher")
    assert response.status_code == 302
    assert response["Location"] == reverse("agents:detail", args=["invoice-matcher"])
    assert agent.state == AgentState.PENDING_REVIEW
    assert agent.owner == world.builder_a
    assert agent.business_unit == world.unit_a
    assert agent.capabilities == ["invoices", "matching"]
    assert agent.autonomy_level == world.role.default_autonomy_level
    assert AuditEntry.objects.filter(verb="agent.registered", object_id=str(agent.pk)).exists()


def test_it_refuses_a_forged_business_unit_and_writes_nothing(client, world):
    client.force_login(world.builder_a)
    before = counts()
    response = client.post(REGISTER, valid_post(world, business_unit=world.unit_b.pk))
    assert response.status_code == 400
    assert "business_unit" in response.context["form"].errors
    assert counts() == before


def test_it_ignores_state_and_owner_sent_with_the_form(client, world):
    client.force_login(world.builder_a)
    client.post(
        REGISTER,
        valid_post(world, state=AgentState.ACTIVE, owner=world.coe.pk, autonomy_level="2"),
    )
    agent = Agent.objects.get(slug="invoice-matcher")
    assert agent.state == AgentState.PENDING_REVIEW
    assert agent.owner == world.builder_a
    assert agent.autonomy_level == AutonomyLevel.L2


def test_a_builder_may_not_register_an_agent_at_l3_and_nothing_is_written(client, world):
    client.force_login(world.builder_a)
    before = counts()
    response = client.post(REGISTER, valid_post(world, autonomy_level="3"))
    assert response.status_code == 400
    [message] = response.context["form"].errors["autonomy_level"]
    assert "granted by the COE only" in message
    assert counts() == before


def test_a_builder_must_choose_a_level_when_the_roles_default_is_l3(client, world):
    world.role.default_autonomy_level = AutonomyLevel.L3
    world.role.save()
    client.force_login(world.builder_a)
    response = client.post(REGISTER, valid_post(world))
    assert response.status_code == 400
    assert "choose L0-L2" in response.context["form"].errors["autonomy_level"][0]
    client.post(REGISTER, valid_post(world, autonomy_level="2"))
    assert Agent.objects.get(slug="invoice-matcher").autonomy_level == AutonomyLevel.L2


def test_coe_staff_may_register_an_agent_at_l3(client, world):
    client.force_login(world.coe)
    response = client.post(REGISTER, valid_post(world, autonomy_level="3"))
    assert response.status_code == 302
    assert Agent.objects.get(slug="invoice-matcher").autonomy_level == AutonomyLevel.L3


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("slug", "agent-a", "An agent with this slug already exists."),
        ("slug", "review", "is reserved"),
        ("capabilities", "ok, not a tag!", "is not a tag"),
        ("capabilities", "ok, " + "x" * 65, "is too long for a tag (at most 64)"),
        ("role", "999999", "Select a valid choice"),
        ("autonomy_level", "7", "Select a valid choice"),
        ("purpose", "", "This field is required."),
    ],
)
def test_it_refuses_bad_input_with_a_clear_error_and_writes_nothing(
    client, world, field, value, message
):
    client.force_login(world.builder_a)
    before = counts()
    response = client.post(REGISTER, valid_post(world, **{field: value}))
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])
    assert counts() == before


def test_people_without_builder_units_get_an_explanation_instead_of_the_form(client, world):
    client.force_login(world.supervisor_a)
    page = client.get(REGISTER)
    assert page.context["form"] is None
    assert b"You are not a builder in any business unit." in page.content
    before = counts()
    client.post(REGISTER, valid_post(world))
    assert counts() == before


def test_a_builder_may_not_ask_for_more_than_the_roles_level(client, world):
    world.role.default_autonomy_level = AutonomyLevel.L1
    world.role.save()
    client.force_login(world.builder_a)
    response = client.post(REGISTER, valid_post(world, autonomy_level="2"))
    assert response.status_code == 400
    assert "at most the role's level" in response.context["form"].errors["autonomy_level"][0]
    assert not Agent.objects.filter(slug="invoice-matcher").exists()
