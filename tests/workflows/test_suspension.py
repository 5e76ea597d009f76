"""Suspending or retiring an agent, whichever way (the agents API, the agent's page, the admin,
the inbox, a hard limit), cancels its queued and pending actions and ends their open
escalations, each recorded once, in the transaction of the state change; and nobody approves
a request of an agent that is not active."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from agents import services as agent_services
from agents.models import Agent, AgentState
from governance import policies
from governance.models import AuditEntry
from tests.factories import SYSTEM
from tests.workflows.test_inbox import fresh, make_governed, submit
from workflows import inbox
from workflows.decisions import decide_action
from workflows.inbox import suspension
from workflows.models import ActionRequest, ActionState, Escalation

AGENTS = "/api/v1/agents/"
ESCALATIONS = "/api/v1/escalations/"


@pytest.fixture
def governed(world):
    return make_governed()


@dataclass
class Work:
    """Agent A's requests: one waiting in the queue, one claimed, one approved and queued;
    and one of agent B's, waiting."""

    pending: Escalation
    claimed: Escalation
    queued: Escalation
    other: Escalation

    @property
    def stopped(self) -> list[Escalation]:
        """The escalations whose actions a suspension of agent A cancels."""
        return [self.pending, self.claimed, self.queued]


@pytest.fixture
def work(world, governed) -> Work:
    pending = submit(world.agent_a, {"amount": 5000})
    claimed = submit(world.agent_a, {"amount": 6000})
    inbox.claim(world.supervisor_a, claimed)
    queued = submit(world.agent_a, {"amount": 7000})
    inbox.approve(world.supervisor_a, queued)
    other = submit(world.agent_b, {"amount": 5000})
    return Work(pending, claimed, queued, other)


def entries(obj, verb: str):
    return AuditEntry.objects.filter(object_id=str(obj.pk), verb=verb)


def action_of(escalation: Escalation) -> ActionRequest:
    return ActionRequest.objects.get(pk=escalation.action_id)


def assert_cancelled(work: Work, *, done: str, actor: str, person, error: str) -> None:
    """Agent A's three actions are cancelled and its two open escalations ended, each with
    exactly one ledger entry by `actor`; the approved escalation and agent B's are left."""
    for escalation in work.stopped:
        action = action_of(escalation)
        assert action.state == ActionState.CANCELLED
        assert action.error == error
        assert action.completed_at is not None
        (entry,) = entries(action, "action.cancelled")
        assert entry.actor_name == actor
        assert entry.data["reason"] == f"agent {done}"
    assert entries(action_of(work.pending), "action.cancelled").get().data["was"] == (
        ActionState.PENDING_APPROVAL
    )
    assert entries(action_of(work.queued), "action.cancelled").get().data["was"] == (
        ActionState.QUEUED
    )
    for escalation in (work.pending, work.claimed):
        ended = fresh(escalation)
        assert ended.state == "cancelled"
        assert ended.decided_by == person
        assert ended.decided_at is not None
        assert ended.decision_note.startswith(f"Agent {done}")
        (entry,) = entries(escalation, "escalation.cancelled")
        assert entry.actor_name == actor
        assert entry.data["reason"] == f"agent {done}"
    assert fresh(work.queued).state == "approved"
    assert not entries(work.queued, "escalation.cancelled").exists()
    assert fresh(work.other).state == "open"
    assert action_of(work.other).state == ActionState.PENDING_APPROVAL


def assert_approval_refused(client, escalation: Escalation) -> None:
    """Approving, as submitted or edited, is a 409 that changes nothing."""
    for body in ({"note": "looks fine"}, {"payload": {"amount": 4000}}):
        refused = client.post(f"{ESCALATIONS}{escalation.pk}/approve/", body, format="json")
        assert refused.status_code == 409, refused.content
        assert refused.json()["error"]["code"] == "already_decided"
    assert fresh(escalation).state == "cancelled"
    assert action_of(escalation).state == ActionState.CANCELLED
    assert not entries(escalation, "escalation.approved").exists()


# Every path


def test_suspending_through_the_agents_api_cancels_pending_and_queued_actions(world, work, as_user):
    supervisor = as_user(world.supervisor_a)
    response = supervisor.post(f"{AGENTS}agent-a/suspend/", {"note": "stop"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == AgentState.SUSPENDED
    assert_cancelled(
        work,
        done="suspended",
        actor="supervisor-a",
        person=world.supervisor_a,
        error="Agent suspended by supervisor-a: stop",
    )
    assert fresh(work.pending).decision_note == "Agent suspended: stop"
    assert_approval_refused(supervisor, work.pending)
    assert_approval_refused(as_user(world.coe), work.claimed)


def test_retiring_through_the_agents_api_cancels_pending_and_queued_actions(world, work, as_user):
    response = as_user(world.builder_a).post(f"{AGENTS}agent-a/retire/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["state"] == AgentState.RETIRED
    assert_cancelled(
        work,
        done="retired",
        actor="builder-a",
        person=world.builder_a,
        error="Agent retired by builder-a.",
    )
    assert fresh(work.pending).decision_note == "Agent retired."
    assert_approval_refused(as_user(world.supervisor_a), work.pending)
    (retired,) = entries(world.agent_a, "agent.retire")
    assert retired.data["keys_revoked"] == 1


def test_retiring_with_a_note_gives_the_note(world, work, as_user):
    response = as_user(world.coe).post(
        f"{AGENTS}agent-a/retire/", {"note": "Replaced by agent C."}, format="json"
    )
    assert response.status_code == 200, response.content
    assert action_of(work.pending).error == "Agent retired by coe: Replaced by agent C."
    assert fresh(work.claimed).decision_note == "Agent retired: Replaced by agent C."


def test_suspending_from_the_agents_page_cancels_too(world, work, client):
    client.force_login(world.supervisor_a)
    url = reverse("agents:transition", args=["agent-a", "suspend"])
    assert client.post(url, {"note": "stop"}).status_code == 302
    assert_cancelled(
        work,
        done="suspended",
        actor="supervisor-a",
        person=world.supervisor_a,
        error="Agent suspended by supervisor-a: stop",
    )


def test_suspending_in_the_admin_cancels_too(world, work, client):
    client.force_login(world.coe)
    response = client.post(
        reverse("admin:agents_agent_changelist"),
        {"action": "suspend", "_selected_action": [world.agent_a.pk], "note": "Incident 42."},
    )
    assert response.status_code == 302
    assert_cancelled(
        work,
        done="suspended",
        actor="coe",
        person=world.coe,
        error="Agent suspended by coe: Incident 42.",
    )


def test_a_hard_limit_that_suspends_the_agent_cancels_its_actions(world, work):
    guard = policies.create_policy(world.coe, "guard", "Runaway guard")
    policies.add_rule(
        world.coe,
        guard.versions.get(),
        name="runaway guard",
        action_pattern="erp.*",
        effect="deny",
        limit_metric="actions",
        limit_scope="agent",
        limit_window="minute",
        hard_limit=Decimal("2"),
        suspend_on_hard_limit=True,
    )
    policies.publish(world.coe, guard.versions.get())
    policies.forget_compiled()  # the epoch moves on commit, which a test never reaches
    po = "erp.purchase_order.create"
    effects = [
        decide_action(world.agent_a, po, {"amount": 1}, actor=SYSTEM, count=True).record.effect
        for _ in range(3)
    ]
    assert effects == ["allow", "allow", "deny"]
    assert Agent.objects.get(pk=world.agent_a.pk).state == AgentState.SUSPENDED
    assert_cancelled(
        work,
        done="suspended",
        actor="limits",
        person=None,
        error="Agent suspended automatically: Hard limit reached: runaway guard (hard limit)",
    )
    for escalation in (work.pending, work.claimed):
        assert entries(escalation, "escalation.cancelled").get().actor_kind == "system"


def test_the_inbox_cancels_exactly_once_and_counts_what_it_cancelled(world, work):
    now = timezone.now() - timedelta(seconds=5)
    cancelled = inbox.suspend_agent(
        world.supervisor_a, world.agent_a, " Ordering in a loop. ", now=now
    )
    assert cancelled == 3
    assert_cancelled(
        work,
        done="suspended",
        actor="supervisor-a",
        person=world.supervisor_a,
        error="Agent suspended by supervisor-a: Ordering in a loop.",
    )
    assert entries(world.agent_a, "agent.suspend").count() == 1
    # One moment: the state change and the cancellations it caused.
    agent = Agent.objects.get(pk=world.agent_a.pk)
    assert agent.state_changed_at == now
    assert {action_of(e).completed_at for e in work.stopped} == {now}
    assert fresh(work.pending).decided_at == now
    # Nothing is left to cancel: suspending again is refused and cancels nothing more.
    with pytest.raises(inbox.InboxError):
        inbox.suspend_agent(world.supervisor_a, world.agent_a, "Again.")
    assert AuditEntry.objects.filter(verb="action.cancelled").count() == 3


def test_the_inbox_button_reports_how_many_actions_it_cancelled(world, work, client):
    client.force_login(world.supervisor_a)
    response = client.post(
        f"/workflows/inbox/{work.pending.pk}/suspend-agent/",
        {"note": "Runaway orders."},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "3 queued or pending action(s) cancelled" in response.content.decode()
    assert AuditEntry.objects.filter(verb="action.cancelled").count() == 3
    assert AuditEntry.objects.filter(verb="escalation.cancelled").count() == 2


def test_resuming_and_suspending_again_cancels_only_what_is_new(world, work):
    inbox.suspend_agent(world.supervisor_a, world.agent_a, "First time.")
    agent_services.transition(world.supervisor_a, world.agent_a, "resume")
    later = submit(world.agent_a, {"amount": 8000})
    assert inbox.suspend_agent(world.supervisor_a, world.agent_a, "Second time.") == 1
    assert fresh(later).state == "cancelled"
    assert AuditEntry.objects.filter(verb="action.cancelled").count() == 4
    assert entries(action_of(work.pending), "action.cancelled").count() == 1


def test_the_other_transitions_cancel_nothing(world, work):
    agent = agent_services.transition(world.supervisor_a, world.agent_a, "suspend", "Pause.")
    assert agent.actions_cancelled == 3
    resumed = agent_services.transition(world.supervisor_a, world.agent_a, "resume")
    assert resumed.actions_cancelled == 0
    assert AuditEntry.objects.filter(verb="action.cancelled").count() == 3


def test_the_state_change_and_the_cancellations_are_one_transaction(world, work, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(suspension, "finish", broken)
    before = AuditEntry.objects.count()
    with pytest.raises(RuntimeError):
        agent_services.transition(world.supervisor_a, world.agent_a, "suspend", "stop")
    assert Agent.objects.get(pk=world.agent_a.pk).state == AgentState.ACTIVE
    assert fresh(work.pending).state == "open"
    assert action_of(work.pending).state == ActionState.PENDING_APPROVAL
    assert AuditEntry.objects.count() == before


# Defence in depth: a request of an agent that is not active is never approved


@pytest.mark.parametrize("state", [AgentState.SUSPENDED, AgentState.RETIRED])
def test_a_request_of_an_agent_that_is_not_active_cannot_be_approved(
    world, governed, as_user, state
):
    # As if the escalation had been opened just as the agent stopped, past the cancellation.
    escalation = submit(world.agent_a, {"amount": 5000})
    Agent.objects.filter(pk=world.agent_a.pk).update(state=state)
    with pytest.raises(inbox.NotAllowed, match=f"agent-a is {state}"):
        inbox.approve(world.supervisor_a, escalation)
    with pytest.raises(inbox.NotAllowed, match="cannot be approved"):
        inbox.edit_and_approve(world.supervisor_a, escalation, {"amount": 4000})
    client = as_user(world.supervisor_a)
    for body in ({}, {"payload": {"amount": 4000}}):
        refused = client.post(f"{ESCALATIONS}{escalation.pk}/approve/", body, format="json")
        assert refused.status_code == 403, refused.content
        assert refused.json()["error"]["code"] == "not_allowed"
    assert fresh(escalation).state == "open"
    assert action_of(escalation).state == ActionState.PENDING_APPROVAL
    assert not entries(escalation, "escalation.approved").exists()
    # It can still be rejected, which closes it.
    inbox.reject(world.supervisor_a, escalation, "The agent is no longer active.")
    assert action_of(escalation).state == ActionState.REJECTED
