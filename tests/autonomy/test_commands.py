"""Management commands: issue_agent_key prints a working key, and seed_demo can run any
number of times without creating anything twice."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from agents import services
from agents.models import Agent, AgentAPIKey, AgentRole, AgentState
from autonomy.demo import AGENTS, PERSONAS
from governance import ledger
from governance.models import AuditEntry, BusinessUnit, Membership

ME = "/api/v1/me/"


def issue(slug: str, *extra: str) -> str:
    out = StringIO()
    call_command("issue_agent_key", slug, *extra, stdout=out)
    return out.getvalue().strip()


def test_issue_agent_key_prints_a_key_that_works(world, as_agent):
    before = AuditEntry.objects.count()
    secret = issue("agent-a", "--name", "deploy pipeline")
    key = AgentAPIKey.objects.get_from_key(secret)
    assert (key.agent, key.name, key.created_by) == (world.agent_a, "deploy pipeline", "cli")
    response = as_agent(secret).get(ME)
    assert response.status_code == 200
    assert response.json()["slug"] == "agent-a"
    assert AuditEntry.objects.count() == before + 1
    entry = AuditEntry.objects.order_by("-id").first()
    assert (entry.verb, entry.actor_kind, entry.actor_name) == ("agent.key_issued", "system", "cli")
    assert secret not in str(entry.data)


def test_issue_agent_key_adds_a_key_beside_the_existing_ones(world, as_agent):
    secret = issue("agent-a")
    assert AgentAPIKey.objects.filter(agent=world.agent_a, revoked=False).count() == 2
    assert as_agent(world.key_a).get(ME).status_code == 200
    assert as_agent(secret).get(ME).status_code == 200


def test_issue_agent_key_names_an_unknown_slug(world):
    before = AgentAPIKey.objects.count(), AuditEntry.objects.count()
    with pytest.raises(CommandError, match="No agent with slug 'nobody'"):
        issue("nobody")
    assert (AgentAPIKey.objects.count(), AuditEntry.objects.count()) == before


def test_issue_agent_key_refuses_a_retired_agent(world):
    services.transition(world.coe, world.agent_a, "retire")
    before = AgentAPIKey.objects.count()
    with pytest.raises(CommandError, match="retired agent cannot get new keys"):
        issue("agent-a")
    assert AgentAPIKey.objects.count() == before


def counts() -> dict[str, int]:
    return {
        "business units": BusinessUnit.objects.count(),
        "users": get_user_model().objects.count(),
        "memberships": Membership.objects.count(),
        "roles": AgentRole.objects.count(),
        "agents": Agent.objects.count(),
        "keys": AgentAPIKey.objects.count(),
        "coe": Group.objects.get(name="COE").user_set.count(),
        "ledger": AuditEntry.objects.count(),
    }


def test_seed_demo_creates_the_demo_enterprise(db):
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert BusinessUnit.objects.count() == 3
    assert Agent.objects.count() == len(AGENTS) == 12
    assert get_user_model().objects.count() == len(PERSONAS)
    assert {state for *_, state in AGENTS} == set(AgentState)
    for slug, *_, state in AGENTS:
        assert Agent.objects.get(slug=slug).state == state
    assert "Demo enterprise ready" in out.getvalue()
    assert ledger.seal_pending() == AuditEntry.objects.count()
    assert ledger.verify_database().ok


def test_seed_demo_twice_creates_nothing_the_second_time(db):
    call_command("seed_demo", stdout=StringIO())
    first = counts()
    first_entries = list(AuditEntry.objects.values_list("id", flat=True))
    call_command("seed_demo", stdout=StringIO())
    assert counts() == first
    assert list(AuditEntry.objects.values_list("id", flat=True)) == first_entries
