"""The agent lifecycle: every legal transition writes exactly one ledger entry, every
illegal one is refused with a clear error and writes nothing, and only the right people
may move an agent."""

import itertools

import pytest

from agents import services
from agents.models import Agent, AgentAPIKey, AgentState
from governance.models import AuditEntry

S = AgentState

# The transitions (by the COE) that bring a freshly registered agent to each state.
PATH_TO = {
    S.DRAFT: [("reject", "Needs a clearer purpose.")],
    S.PENDING_REVIEW: [],
    S.ACTIVE: [("approve", "")],
    S.SUSPENDED: [("approve", ""), ("suspend", "Paused for the audit.")],
    S.RETIRED: [("approve", ""), ("retire", "")],
}

LEGAL = [
    (name, state)
    for name, transition in services.TRANSITIONS.items()
    for state in transition.sources
]
ILLEGAL = [
    (name, state)
    for name, state in itertools.product(services.TRANSITIONS, S)
    if state not in services.TRANSITIONS[name].sources
]

_counter = itertools.count()


def agent_in(world, state: str) -> Agent:
    """A new agent of builder A in business unit A, brought to `state` by the COE."""
    agent = services.register_agent(
        world.builder_a,
        slug=f"lifecycle-{next(_counter)}",
        name="Lifecycle Agent",
        purpose="Testing the lifecycle.",
        business_unit=world.unit_a,
        role=world.role,
    )
    for name, note in PATH_TO[state]:
        services.transition(world.coe, agent, name, note)
    assert agent.state == state
    return agent


def entries_after(last_id: int):
    return list(AuditEntry.objects.filter(pk__gt=last_id).order_by("id"))


def last_entry_id() -> int:
    return AuditEntry.objects.order_by("-id").values_list("id", flat=True).first() or 0


@pytest.mark.parametrize(("name", "source"), LEGAL)
def test_every_legal_transition_writes_exactly_one_ledger_entry(world, name, source):
    agent = agent_in(world, source)
    mark = last_entry_id()
    services.transition(world.coe, agent, name, "A reason.")
    target = services.TRANSITIONS[name].target
    agent.refresh_from_db()
    assert agent.state == target
    assert agent.state_changed_at is not None
    (entry,) = entries_after(mark)
    assert entry.verb == f"agent.{name}"
    assert entry.object_id == str(agent.pk)
    assert entry.business_unit_id == world.unit_a.pk
    assert entry.actor_name == world.coe.username
    assert entry.data["from"] == source
    assert entry.data["to"] == target
    assert entry.data["note"] == "A reason."


@pytest.mark.parametrize(("name", "source"), ILLEGAL)
def test_every_illegal_transition_is_refused_and_writes_nothing(world, name, source):
    agent = agent_in(world, source)
    mark = last_entry_id()
    with pytest.raises(services.InvalidTransition, match=f"Cannot {name} an agent that is"):
        services.transition(world.coe, agent, name, "A reason.")
    assert Agent.objects.get(pk=agent.pk).state == source
    assert entries_after(mark) == []


def test_it_refuses_to_approve_an_active_agent(world):
    with pytest.raises(services.InvalidTransition, match="approve applies to: pending review"):
        services.transition(world.coe, world.agent_a, "approve")


def test_it_refuses_to_resume_an_active_agent(world):
    with pytest.raises(services.InvalidTransition, match="resume applies to: suspended"):
        services.transition(world.supervisor_a, world.agent_a, "resume")


def test_it_refuses_an_unknown_transition(world):
    mark = last_entry_id()
    with pytest.raises(services.InvalidTransition, match="Unknown transition 'promote'"):
        services.transition(world.coe, world.agent_a, "promote")
    assert entries_after(mark) == []


@pytest.mark.parametrize("name", ["reject", "suspend"])
def test_it_refuses_to_reject_or_suspend_without_a_note(world, name):
    agent = agent_in(world, services.TRANSITIONS[name].sources[0])
    before = agent.state
    mark = last_entry_id()
    with pytest.raises(services.InvalidTransition, match=f"A note is required to {name}"):
        services.transition(world.coe, agent, name, "   ")
    assert Agent.objects.get(pk=agent.pk).state == before
    assert entries_after(mark) == []


def test_supervisor_a_suspends_and_resumes_agent_a(world):
    services.transition(world.supervisor_a, world.agent_a, "suspend", "Odd behaviour.")
    assert Agent.objects.get(pk=world.agent_a.pk).state == S.SUSPENDED
    services.transition(world.supervisor_a, world.agent_a, "resume")
    assert Agent.objects.get(pk=world.agent_a.pk).state == S.ACTIVE


@pytest.mark.parametrize(
    ("persona", "name"),
    [
        ("supervisor_b", "suspend"),  # another business unit's supervisor
        ("builder_a", "suspend"),  # builders do not supervise
        ("auditor", "suspend"),  # auditors only read
        ("supervisor_a", "retire"),  # retiring is for the owner, builders and COE
    ],
)
def test_people_outside_the_rule_may_not_move_active_agent_a(world, persona, name):
    mark = last_entry_id()
    with pytest.raises(services.NotAllowed):
        services.transition(getattr(world, persona), world.agent_a, name, "A reason.")
    assert Agent.objects.get(pk=world.agent_a.pk).state == S.ACTIVE
    assert entries_after(mark) == []


@pytest.mark.parametrize("persona", ["builder_a", "supervisor_a", "auditor"])
def test_only_the_coe_approves_or_rejects(world, persona):
    agent = agent_in(world, S.PENDING_REVIEW)
    mark = last_entry_id()
    for name in ("approve", "reject"):
        with pytest.raises(services.NotAllowed):
            services.transition(getattr(world, persona), agent, name, "A reason.")
    assert Agent.objects.get(pk=agent.pk).state == S.PENDING_REVIEW
    assert entries_after(mark) == []


def test_supervisor_b_cannot_resume_a_suspended_agent_a(world):
    services.transition(world.supervisor_a, world.agent_a, "suspend", "Odd behaviour.")
    with pytest.raises(services.NotAllowed):
        services.transition(world.supervisor_b, world.agent_a, "resume")
    assert Agent.objects.get(pk=world.agent_a.pk).state == S.SUSPENDED


def test_retiring_revokes_every_key_of_that_agent_only(world):
    services.issue_key(world.builder_a, world.agent_a, name="second")
    services.issue_key(world.builder_a, world.agent_a, name="third")
    mark = last_entry_id()
    services.transition(world.builder_a, world.agent_a, "retire", "Replaced.")
    keys = AgentAPIKey.objects.filter(agent=world.agent_a)
    assert keys.count() == 3
    assert all(key.revoked and key.revoked_at is not None for key in keys)
    assert not AgentAPIKey.objects.get(agent=world.agent_b).revoked
    (entry,) = entries_after(mark)
    assert entry.verb == "agent.retire"
    assert entry.data == {"from": "active", "to": "retired", "note": "Replaced.", "keys_revoked": 3}


def test_a_retired_agent_gets_no_new_keys(world):
    services.transition(world.coe, world.agent_a, "retire")
    with pytest.raises(services.InvalidTransition, match="retired agent cannot get new keys"):
        services.issue_key(world.builder_a, world.agent_a)
