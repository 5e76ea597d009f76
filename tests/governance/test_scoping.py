"""Who sees which business units and rows: the scoped querysets' for_person(), for_agent()
and for_principal() per persona."""

import pytest
from django.contrib.auth.models import AnonymousUser

from agents.authentication import AgentPrincipal
from agents.models import Agent, AgentAPIKey
from autonomy.core.principals import is_coe
from governance import services
from governance.models import BusinessUnit, MemberRole
from governance.scoping import AUDIT, BUILD, SUPERVISE, VIEW
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
def test_business_units_for_each_persona_and_action(world, persona, perm):
    found = set(BusinessUnit.objects.for_person(principal(world, persona), perm))
    assert found == units(world, EXPECTED[persona][perm])


@pytest.mark.parametrize("persona", list(EXPECTED))
def test_for_person_narrows_agents_and_units_to_what_each_persona_may_view(world, persona):
    who = principal(world, persona)
    visible = units(world, EXPECTED[persona][VIEW])
    assert set(BusinessUnit.objects.for_person(who)) == visible
    expected_agents = {a for a in (world.agent_a, world.agent_b) if a.business_unit in visible}
    assert set(Agent.objects.for_person(who)) == expected_agents
    assert Agent.objects.for_person(who).count() == len(expected_agents)


def test_for_person_follows_a_path_to_the_business_unit(world):
    keys = AgentAPIKey.objects.for_person(world.supervisor_b)
    assert [key.agent for key in keys] == [world.agent_b]


def test_for_person_with_a_stronger_action_narrows_further(world):
    assert list(Agent.objects.for_person(world.auditor, SUPERVISE)) == []
    assert list(Agent.objects.for_person(world.supervisor_a, SUPERVISE)) == [world.agent_a]


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
    assert set(BusinessUnit.objects.for_person(root, SUPERVISE)) == units(world, "ab")


def test_staff_status_alone_grants_nothing(world):
    staff = make_user("staff", is_staff=True)
    assert list(BusinessUnit.objects.for_person(staff)) == []
    assert list(Agent.objects.for_person(staff)) == []


def test_an_inactive_user_sees_nothing(world):
    world.builder_a.is_active = False
    world.builder_a.save(update_fields=["is_active"])
    assert list(BusinessUnit.objects.for_person(world.builder_a)) == []
    world.coe.is_active = False
    world.coe.save(update_fields=["is_active"])
    world.coe._autonomy_is_coe = None
    assert list(BusinessUnit.objects.for_person(world.coe)) == []


def test_removing_a_membership_removes_its_scope(world):
    membership = world.supervisor_a.memberships.get(business_unit=world.unit_a)
    services.remove_membership(SYSTEM, membership)
    fresh = type(world.supervisor_a).objects.get(pk=world.supervisor_a.pk)
    assert list(BusinessUnit.objects.for_person(fresh)) == []
    assert list(Agent.objects.for_person(fresh)) == []


def test_a_second_role_keeps_view_when_the_first_is_removed(world):
    services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.AUDITOR)
    membership = world.builder_a.memberships.get(role=MemberRole.BUILDER)
    services.remove_membership(SYSTEM, membership)
    fresh = type(world.builder_a).objects.get(pk=world.builder_a.pk)
    assert set(BusinessUnit.objects.for_person(fresh)) == {world.unit_a}
    assert set(BusinessUnit.objects.for_person(fresh, AUDIT)) == {world.unit_a}
    assert list(BusinessUnit.objects.for_person(fresh, BUILD)) == []


def test_for_principal_gives_an_agent_only_its_own_rows_and_a_person_their_units(world):
    key = AgentAPIKey.objects.filter(agent=world.agent_a).first()
    agent_a = AgentPrincipal(world.agent_a, key)
    assert list(Agent.objects.for_principal(agent_a)) == [world.agent_a]
    assert set(Agent.objects.for_principal(world.supervisor_b)) == {world.agent_b}
    assert Agent.objects.for_principal(world.coe).count() == 2
