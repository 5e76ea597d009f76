"""Two supervisors deciding the same escalation at the same moment (PostgreSQL: real row
locks, real threads released together): one wins, the other is told it is already
decided, and exactly one decision is recorded. The same for resolving an unknown outcome."""

import threading

import pytest
from django.db import connection

from governance import services as governance_services
from governance.models import AuditEntry, MemberRole
from tests.conftest import requires_postgres
from tests.factories import SYSTEM, make_user
from tests.workflows.factories import make_action_type, make_connector
from tests.workflows.test_inbox import fresh, make_governed, submit
from tests.workflows.test_inbox__reconcile import unknown_outcome
from workflows import inbox
from workflows.models import ActionState

ROUNDS = 5

OPERATIONS = {
    "approve": lambda user, escalation: inbox.approve(user, escalation, "ok"),
    "reject": lambda user, escalation: inbox.reject(user, escalation, "no"),
    "edit": lambda user, escalation: inbox.edit_and_approve(user, escalation, {"amount": 900}),
    "claim": lambda user, escalation: inbox.claim(user, escalation),
    "succeeded": lambda user, escalation: inbox.reconcile_succeeded(user, escalation, "Found."),
    "failed": lambda user, escalation: inbox.reconcile_failed(user, escalation, "Not found."),
    "retry": lambda user, escalation: inbox.reconcile_retry(user, escalation, "Not found."),
}


def race(first, second, escalation) -> list:
    """Run both (user, operation) pairs at once, each in its own connection; returns what
    each got: "done" or the refusal."""
    barrier = threading.Barrier(2)
    outcomes: list = []

    def run(user, operation):
        try:
            barrier.wait(timeout=30)
            OPERATIONS[operation](user, escalation)
            outcomes.append("done")
        except inbox.InboxError as exc:
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=pair) for pair in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("one", "other"),
    [("approve", "approve"), ("approve", "reject"), ("edit", "reject"), ("reject", "reject")],
)
def test_two_supervisors_deciding_at_once_one_wins_and_the_other_hears_already_decided(
    world, one, other
):
    make_governed()
    colleague = make_user("colleague")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.SUPERVISOR)
    for _ in range(ROUNDS):
        escalation = submit(world.agent_a, {"amount": 5000})
        outcomes = race((world.supervisor_a, one), (colleague, other), escalation)
        assert outcomes.count("done") == 1, outcomes
        (refusal,) = [outcome for outcome in outcomes if outcome != "done"]
        assert isinstance(refusal, inbox.AlreadyDecided)
        assert "Already decided" in refusal.message
        decided = fresh(escalation)
        assert decided.state in ("approved", "rejected")
        expected = ActionState.QUEUED if decided.state == "approved" else ActionState.REJECTED
        assert decided.action.state == expected
        decisions = AuditEntry.objects.filter(
            object_id=str(escalation.pk), verb__in=["escalation.approved", "escalation.rejected"]
        )
        assert decisions.count() == 1


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_two_supervisors_claiming_at_once_leave_one_claim(world):
    make_governed()
    colleague = make_user("colleague")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.SUPERVISOR)
    for _ in range(ROUNDS):
        escalation = submit(world.agent_a, {"amount": 5000})
        outcomes = race((world.supervisor_a, "claim"), (colleague, "claim"), escalation)
        assert outcomes.count("done") == 1, outcomes
        (refusal,) = [outcome for outcome in outcomes if outcome != "done"]
        assert isinstance(refusal, inbox.ClaimedByOther)
        assert fresh(escalation).claimed_by_id in (world.supervisor_a.pk, colleague.pk)
        claims = AuditEntry.objects.filter(object_id=str(escalation.pk), verb="escalation.claimed")
        assert claims.count() == 1


# The action's state after each resolution (a retry is queued to run again).
SETTLED = {
    "succeeded": ActionState.SUCCEEDED,
    "failed": ActionState.FAILED,
    "retry": ActionState.QUEUED,
}


@requires_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("one", "other"),
    [("succeeded", "failed"), ("failed", "retry"), ("retry", "retry"), ("succeeded", "succeeded")],
)
def test_two_supervisors_resolving_an_unknown_outcome_at_once_one_wins(world, one, other):
    colleague = make_user("colleague")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.SUPERVISOR)
    connector = make_connector("http", config={"url": "http://erp.invalid/orders"})
    action_type = make_action_type(connector=connector)
    for _ in range(ROUNDS):
        escalation = unknown_outcome(world.agent_a, action_type)
        outcomes = race((world.supervisor_a, one), (colleague, other), escalation)
        assert outcomes.count("done") == 1, outcomes
        (refusal,) = [outcome for outcome in outcomes if outcome != "done"]
        assert isinstance(refusal, inbox.AlreadyDecided)
        assert "resolved by" in refusal.message
        resolved = AuditEntry.objects.get(object_id=str(escalation.pk), verb="escalation.resolved")
        assert fresh(escalation).state == "resolved"
        assert fresh(escalation).action.state == SETTLED[resolved.data["outcome"]]
        reconciled = AuditEntry.objects.filter(
            object_id=str(escalation.action_id), verb="action.reconciled"
        )
        assert reconciled.count() == 1
