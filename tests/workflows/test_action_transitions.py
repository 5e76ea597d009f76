"""An action's state changes only along its transition table, each from the states it
starts from, with its stamps, naming the verb its ledger entry records."""

from datetime import UTC, datetime, timedelta

import pytest

from workflows.models import (
    ACTION_TRANSITIONS,
    CLAIM,
    ActionRequest,
    ActionState,
    InvalidActionTransition,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("effect", "state", "verb", "queued_at", "completed_at"),
    [
        ("allow", ActionState.QUEUED, "action.queued", NOW, None),
        ("require_approval", ActionState.PENDING_APPROVAL, "action.pending_approval", None, None),
        ("deny", ActionState.DENIED, "action.denied", None, NOW),
    ],
)
def test_a_new_action_takes_its_decision(effect, state, verb, queued_at, completed_at):
    action = ActionRequest()
    assert action.take_decision(effect, NOW) == verb
    assert (action.state, action.queued_at, action.completed_at) == (
        state,
        queued_at,
        completed_at,
    )


def test_a_decided_action_cannot_take_a_decision_again():
    action = ActionRequest(state=ActionState.QUEUED)
    with pytest.raises(InvalidActionTransition):
        action.take_decision("deny", NOW)
    assert action.state == ActionState.QUEUED


def test_an_executing_action_ends_with_its_stamps():
    action = ActionRequest(state=ActionState.EXECUTING, next_attempt_at=NOW)
    assert action.end(ActionState.FAILED, "boom", NOW) == "action.failed"
    assert (action.state, action.error, action.completed_at, action.next_attempt_at) == (
        ActionState.FAILED,
        "boom",
        NOW,
        None,
    )


def test_only_a_final_state_ends_an_action_and_only_from_where_it_may():
    with pytest.raises(InvalidActionTransition):
        ActionRequest(state=ActionState.EXECUTING).end(ActionState.QUEUED, "", NOW)
    with pytest.raises(InvalidActionTransition):
        ActionRequest(state=ActionState.SUCCEEDED).end(ActionState.FAILED, "", NOW)


def test_a_failed_attempt_goes_back_to_the_queue_with_its_due_time():
    action = ActionRequest(state=ActionState.EXECUTING)
    due = NOW + timedelta(seconds=30)
    assert action.retry_later("timeout", due) == "action.retry_scheduled"
    assert (action.state, action.error, action.next_attempt_at) == (
        ActionState.QUEUED,
        "timeout",
        due,
    )
    with pytest.raises(InvalidActionTransition):
        action.requeue()


def test_the_claim_is_named_in_the_table():
    assert CLAIM is ACTION_TRANSITIONS["claim"]
    assert (set(CLAIM.sources), CLAIM.target) == ({ActionState.QUEUED}, ActionState.EXECUTING)
