"""Handing committed actions to the workers: after commit only, in the background, several
to a message when they pile up."""

import queue
import threading
import time

from django.db import transaction

from tests.workflows.factories import make_action, make_action_type
from workflows import dispatch, tasks
from workflows.models import ActionRequest, ActionState, SandboxEffect


def test_one_message_executes_several_actions_each_once(world):
    action_type = make_action_type()
    actions = [make_action(world.agent_a, action_type, {"amount": n}) for n in (1, 2, 3)]
    ids = [str(action.pk) for action in actions]

    assert tasks.execute_actions(ids) == [ActionState.SUCCEEDED] * 3
    assert tasks.execute_actions(ids) == ["", "", ""]  # a repeated message does nothing
    assert SandboxEffect.objects.filter(action_id__in=ids).count() == 3
    assert set(ActionRequest.objects.filter(pk__in=ids).values_list("state", flat=True)) == {
        ActionState.SUCCEEDED
    }


def test_ids_that_pile_up_leave_in_batches_of_at_most_batch():
    pending = queue.SimpleQueue()
    ids = [f"id-{n}" for n in range(dispatch.BATCH + 3)]
    for action_id in ids:
        pending.put((action_id, False))
    first = dispatch._waiting(pending=pending)
    second = dispatch._waiting(pending=pending)
    assert first == ids[: dispatch.BATCH]
    assert second == ids[dispatch.BATCH :]
    assert dispatch._waiting(pending=pending) == []


def test_a_quick_execution_waits_a_moment_for_company_in_its_message(monkeypatch):
    monkeypatch.setattr(dispatch, "LINGER_SECONDS", 5.0)
    pending = queue.SimpleQueue()
    joiner = threading.Timer(0.05, pending.put, [("id-2", True)])
    joiner.start()
    # The second id is committed after the first was handed over, within the linger; a
    # call to a system of record joining them ends the wait.
    threading.Timer(0.1, pending.put, [("id-3", False)]).start()
    started = time.monotonic()
    assert dispatch._waiting(("id-1", True), pending=pending) == ["id-1", "id-2", "id-3"]
    assert time.monotonic() - started < 4.0


def test_a_call_to_a_system_of_record_is_never_held_back(monkeypatch):
    monkeypatch.setattr(dispatch, "LINGER_SECONDS", 5.0)
    pending = queue.SimpleQueue()
    started = time.monotonic()
    assert dispatch._waiting(("id-1", False), pending=pending) == ["id-1"]
    assert time.monotonic() - started < 4.0


def test_nothing_is_handed_off_for_a_rolled_back_transaction(
    world, django_capture_on_commit_callbacks
):
    action = make_action(world.agent_a, make_action_type(), {"amount": 1})
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                dispatch.enqueue_execution(action.pk)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert ActionRequest.objects.get(pk=action.pk).state == ActionState.QUEUED
