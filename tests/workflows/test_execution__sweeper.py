"""The sweeper repairs what dead workers and lost messages leave: nothing acknowledged is
lost, nothing is executed twice. Its clock is passed in to stand for time passing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from governance.models import AuditEntry
from tests.workflows.factories import make_action, make_action_type, make_connector
from workflows import execution
from workflows.models import ActionRequest, ActionState, ConnectorAttempt, Escalation


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what a commit starts in this process, Celery tasks included (eagerly)."""
    from autonomy.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = eager


@pytest.fixture
def erp(world, httpserver):
    connector = make_connector(
        "http", config={"url": httpserver.url_for("/orders"), "allow_private_hosts": True}
    )
    return make_action_type(connector=connector)


def abandoned(world, action_type, *, minutes_ago: float, call_started: bool) -> ActionRequest:
    """An action a worker claimed `minutes_ago` and then died: before its call, or during."""
    claimed = timezone.now() - timedelta(minutes=minutes_ago)
    action = make_action(
        world.agent_a,
        action_type,
        state=ActionState.EXECUTING,
        claimed_at=claimed,
        queued_at=claimed,
        attempt_count=1 if call_started else 0,
    )
    if call_started:
        ConnectorAttempt.objects.create(
            action=action,
            connector=action_type.connector,
            number=1,
            idempotency_key=str(action.pk),
            started_at=claimed,
        )
    return action


def test_an_action_abandoned_before_its_call_is_queued_again_and_executed_once(
    world, erp, httpserver, after_commit
):
    httpserver.expect_request("/orders").respond_with_json({})
    action = abandoned(world, erp, minutes_ago=2, call_started=False)

    with after_commit(execute=True):
        assert execution.sweep()["requeued"] == 1

    action.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert len(httpserver.log) == 1
    verbs = AuditEntry.objects.filter(object_id=str(action.pk)).values_list("verb", flat=True)
    assert list(verbs.order_by("id")) == ["action.requeued", "action.executed"]


def test_a_fresh_claim_is_left_alone(world, erp, httpserver):
    action = abandoned(world, erp, minutes_ago=0.1, call_started=False)
    assert execution.sweep() == {"requeued": 0, "reconciliation": 0, "reenqueued": 0}
    action.refresh_from_db()
    assert action.state == ActionState.EXECUTING


def test_an_action_abandoned_during_its_call_goes_to_a_person_and_is_not_called_again(
    world, erp, httpserver, after_commit
):
    action = abandoned(world, erp, minutes_ago=5, call_started=True)

    with after_commit(execute=True):
        assert execution.sweep()["reconciliation"] == 1

    action.refresh_from_db()
    assert action.state == ActionState.NEEDS_RECONCILIATION
    assert "worker stopped during the call" in action.error
    attempt = action.attempts.get()
    assert attempt.outcome == "unknown" and attempt.finished_at is not None
    assert Escalation.objects.get(action=action).kind == "reconciliation"
    assert httpserver.log == []
    with after_commit(execute=True):
        assert execution.sweep(now=timezone.now() + timedelta(hours=1))["reconciliation"] == 0


def test_a_call_within_its_connectors_time_budget_is_left_alone(world, erp):
    # http: connect 5 s + read 15 s + 10 s of slack, then a 30 s margin: 60 s.
    action = abandoned(world, erp, minutes_ago=0.6, call_started=True)
    assert execution.sweep()["reconciliation"] == 0
    action.refresh_from_db()
    assert action.state == ActionState.EXECUTING


def test_a_queued_action_whose_message_was_lost_is_enqueued_again(
    world, erp, httpserver, after_commit
):
    httpserver.expect_request("/orders").respond_with_json({})
    stale = timezone.now() - timedelta(minutes=3)
    action = make_action(world.agent_a, erp, queued_at=stale, created_at=stale)
    recent = make_action(world.agent_a, erp)

    with after_commit(execute=True):
        assert execution.sweep()["reenqueued"] == 1

    action.refresh_from_db()
    recent.refresh_from_db()
    assert action.state == ActionState.SUCCEEDED
    assert recent.state == ActionState.QUEUED
    assert len(httpserver.log) == 1


def test_a_retry_is_enqueued_again_only_once_it_is_overdue(world, erp):
    action = make_action(
        world.agent_a,
        erp,
        queued_at=timezone.now() - timedelta(hours=1),
        next_attempt_at=timezone.now() + timedelta(seconds=30),
    )
    assert execution.sweep()["reenqueued"] == 0
    assert execution.sweep(now=timezone.now() + timedelta(minutes=2))["reenqueued"] == 1
    action.refresh_from_db()
    assert action.state == ActionState.QUEUED


def test_sweeping_twice_repairs_once(world, erp, after_commit):
    abandoned(world, erp, minutes_ago=5, call_started=True)
    with after_commit(execute=True):
        first = execution.sweep()
        second = execution.sweep()
    assert (first["reconciliation"], second["reconciliation"]) == (1, 0)
    assert Escalation.objects.count() == 1
