"""Escalation's transitions: each starts only from the states its table names, sets its
stamps and returns what the ledger records (no database: the rows are never saved)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model

from workflows.models import Escalation, EscalationKind, EscalationState
from workflows.models.inbox import InvalidTransition

NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def escalation(state=EscalationState.OPEN, **fields) -> Escalation:
    return Escalation(state=state, sla_due_at=NOW, **fields)


def test_approving_stamps_who_when_and_the_note_and_says_what_to_save():
    person = get_user_model()(username="sam")
    item = escalation(EscalationState.CLAIMED)
    change = item.approve(person, "Fine.", NOW, edited_payload={"amount": 1})
    assert item.state == EscalationState.APPROVED
    assert (item.decided_by, item.decided_at, item.decision_note) == (person, NOW, "Fine.")
    assert item.edited_payload == {"amount": 1}
    assert change.verb == "escalation.approved"
    assert change.data == {"note": "Fine."}
    assert set(change.fields) == {
        "state",
        "decided_by",
        "decided_at",
        "decision_note",
        "edited_payload",
    }


@pytest.mark.parametrize(
    "state",
    [
        EscalationState.APPROVED,
        EscalationState.REJECTED,
        EscalationState.EXPIRED,
        EscalationState.REASSIGNED,
        EscalationState.CANCELLED,
        EscalationState.RESOLVED,
    ],
)
def test_a_decided_escalation_takes_no_transition(state):
    item = escalation(state)
    for take in [
        lambda: item.claim(None, NOW),
        lambda: item.unclaim(),
        lambda: item.approve(None, "", NOW),
        lambda: item.reject(None, "No.", NOW),
        lambda: item.reassign(None, "", NOW),
        lambda: item.escalate(NOW),
        lambda: item.expire(NOW),
        lambda: item.resolve(None, "It took effect", "Checked.", NOW),
        lambda: item.cancel(None, "Agent suspended.", NOW),
        lambda: item.warn(NOW),
    ]:
        with pytest.raises(InvalidTransition):
            take()
    assert item.state == state and item.decided_at is None


def test_claiming_starts_only_from_open_and_giving_back_only_from_claimed():
    person = get_user_model()(username="sam")
    item = escalation()
    with pytest.raises(InvalidTransition, match="Cannot unclaim an escalation that is open"):
        item.unclaim()
    assert item.claim(person, NOW).verb == "escalation.claimed"
    assert (item.state, item.claimed_by, item.claimed_at) == ("claimed", person, NOW)
    with pytest.raises(InvalidTransition):
        item.claim(person, NOW)
    change = item.unclaim()
    assert change.data == {"released": "sam"}
    assert (item.state, item.claimed_by, item.claimed_at) == ("open", None, None)


def test_the_sla_moves_and_expires_without_a_person():
    moved, expired = escalation(), escalation(EscalationState.CLAIMED)
    assert moved.escalate(NOW).verb == "escalation.sla_escalated"
    assert (moved.state, moved.decided_by, moved.decision_note) == (
        "reassigned",
        None,
        "SLA expired",
    )
    change = expired.expire(NOW)
    assert change.data == {"sla_due_at": NOW.isoformat()}
    assert expired.decision_note == "SLA expired at the end of the queue chain"


def test_resolving_records_the_finding_and_notes_the_summary():
    item = escalation(kind=EscalationKind.RECONCILIATION)
    change = item.resolve(None, "It took effect", "Seen in the CRM.", NOW, outcome="succeeded")
    assert item.decision_note == "It took effect: Seen in the CRM."
    assert change.data == {"outcome": "succeeded", "note": "Seen in the CRM."}
    assert not item.is_approval and escalation().is_approval
