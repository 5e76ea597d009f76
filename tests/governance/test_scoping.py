"""Who sees which business units and rows: business_units_for() and scope() per persona."""

import pytest
from django.contrib.auth.models import AnonymousUser

from agents.authentication import AgentPrincipal
from agents.models import Agent, AgentAPIKey
from autonomy.core.principals import is_coe
from governance import services
from governance.models import BusinessUnit, MemberRole
from governance.scoping import (
    AUDIT,
    BUILD,
    SUPERVISE,
    VIEW,
    business_units_for,
    scope,
    scope_for_principal,
)
from tests.factories import SYSTEM, make_user

# persona -> {perm: business unit letters}
EXPECTED = {
    "coe": {VIEW: "ab", BUILD: "ab", SUPERVISE: "ab", AUDIT: "ab"},
    "builder_a": {VIEW: "a", BUILD: "a", SUPERVISE: "", AUDIT: ""},
    "supervisor_a": {VIEW: "a", BUILD: "", SUPERVISE: "a", AUDIT: ""},
    "supervisor_b": {VIEW: "b", BUILD: "", SUPERVISE: "b", AUDIT: ""},
    "auditor": {VIEW: "a", BUILD: "", SUPERVISE: "", AUDIT: "a"},
    "agent_a": {VIEW: "a", BUILD: "", SUPERVISE: "", AUDIT: ""},
    "agent_b": {VIEW: "b", BUILD: "", SUPERVISE: "", AUDIT: ""},
    "anonymous": {VIEW: "", BUILD: "", SUPERVISE: "", AUDIT: ""},
}


def principal(world, persona: str):
    if persona == "anonymous":
        return AnonymousUser()
    if persona.startswith("agent_"):
        agent = getattr(world, persona)
        return AgentPrincipal(agent, AgentAPIKey.objects.get(agent=agent))
    return getattr(world, persona)


def units(world, letters: str) -> set[BusinessUnit]:
    return {getattr(world, f"unit_{letter}") for letter in letters}


@pytest.mark.parametrize(
    ("persona", "perm"),
    [(persona, perm) for persona, perms in EXPECTED.items() for perm in perms],
)
def test_business_units_for_each_persona_and_permission(world, persona, perm):
    found = set(business_units_for(principal(world, persona), perm))
    assert found == units(world, EXPECTED[persona][perm])


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_scope_narrows_agents_and_units_to_what_each_persona_may_view(world, persona):
    who = principal(world, persona)
    visible = units(world, EXPECTED[persona][VIEW])
    assert set(scope(BusinessUnit.objects.all(), who, field="pk")) == visible
    expected_agents = {a for a in (world.agent_a, world.agent_b) if a.business_unit in visible}
    assert set(scope(Agent.objects.all(), who)) == expected_agents
    assert scope(Agent.objects.all(), who).count() == len(expected_agents)


def test_scope_follows_a_path_to_the_business_unit(world):
    keys = scope(AgentAPIKey.objects.all(), world.supervisor_b, field="agent__business_unit")
    assert [key.agent for key in keys] == [world.agent_b]


def test_scope_with_a_stronger_permission_narrows_further(world):
    assert list(scope(Agent.objects.all(), world.auditor, SUPERVISE)) == []
    assert list(scope(Agent.objects.all(), world.supervisor_a, SUPERVISE)) == [world.agent_a]


def test_only_superusers_and_the_coe_group_are_coe(world):
    assert is_coe(world.coe)
    assert is_coe(make_user("root", is_superuser=True))
    staff_builder = make_user("staff-builder", is_staff=True)
    assert not is_coe(staff_builder)
    assert not is_coe(world.builder_a)
    assert not is_coe(AnonymousUser())
    assert not is_coe(principal(world, "agent_a"))


def test_a_superuser_outside_the_coe_group_sees_every_unit(world):
    root = make_user("root", is_superuser=True)
    assert set(business_units_for(root, SUPERVISE)) == units(world, "ab")


def test_staff_status_alone_grants_nothing(world):
    staff = make_user("staff", is_staff=True)
    assert list(business_units_for(staff)) == []
    assert list(scope(Agent.objects.all(), staff)) == []


def test_an_inactive_user_sees_nothing(world):
    world.builder_a.is_active = False
    world.builder_a.save(update_fields=["is_active"])
    assert list(business_units_for(world.builder_a)) == []
    world.coe.is_active = False
    world.coe.save(update_fields=["is_active"])
    world.coe._autonomy_is_coe = None
    assert list(business_units_for(world.coe)) == []


def test_removing_a_membership_removes_its_scope(world):
    membership = world.supervisor_a.memberships.get(business_unit=world.unit_a)
    services.remove_membership(SYSTEM, membership)
    fresh = type(world.supervisor_a).objects.get(pk=world.supervisor_a.pk)
    assert list(business_units_for(fresh)) == []
    assert list(scope(Agent.objects.all(), fresh)) == []


def test_a_second_role_keeps_view_when_the_first_is_removed(world):
    services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.AUDITOR)
    membership = world.builder_a.memberships.get(role=MemberRole.BUILDER)
    services.remove_membership(SYSTEM, membership)
    fresh = type(world.builder_a).objects.get(pk=world.builder_a.pk)
    assert set(business_units_for(fresh)) == {world.unit_a}
    assert set(business_units_for(fresh, AUDIT)) == {world.unit_a}
    assert list(business_units_for(fresh, BUILD)) == []


def test_scope_for_principal_gives_an_agent_only_its_own_rows_and_a_person_their_units(world):
    key = AgentAPIKey.objects.filter(agent=world.agent_a).first()
    agent_a = AgentPrincipal(world.agent_a, key)
    agents = Agent.objects.all()
    assert list(scope_for_principal(agents, agent_a, agent_field="pk")) == [world.agent_a]
    assert set(scope_for_principal(agents, world.supervisor_b, agent_field="pk")) == {world.agent_b}
    assert scope_for_principal(agents, world.coe, agent_field="pk").count() == 2
