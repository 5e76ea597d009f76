"""SLAs: the queue is warned before the deadline, an overdue escalation moves up its queue's
chain, and at the end of the chain the action expires, recorded and explicit. Time is
moved by passing `now`."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from governance.models import AuditEntry
from tests.workflows.test_inbox import fresh, make_governed, submit, verbs
from workflows import inbox
from workflows.models import ActionRequest, ActionState, Escalation, WebhookDelivery
from workflows.queues import COE_QUEUE_SLUG, coe_queue, unit_queue
from workflows.tasks_inbox import check_escalation_slas

SLA = 600


@pytest.fixture
def governed(world):
    """Approvals due within 10 minutes in unit A's queue (warned 2 minutes before), and one
    hour at the COE."""
    make_governed(sla_seconds=SLA)
    queue = unit_queue(world.unit_a)
    queue.warn_before_seconds = 120
    queue.save()
    top = coe_queue()
    top.sla_seconds, top.warn_before_seconds = 3600, 300
    top.save()
    return queue


@pytest.fixture
def t0():
    return timezone.now()


def test_the_queue_is_warned_once_when_the_deadline_nears(world, governed, t0):
    escalation = submit(world.agent_a, {"amount": 5000}, now=t0)
    assert inbox.check_slas(now=t0 + timedelta(seconds=SLA - 121)) == {
        "warned": 0,
        "escalated": 0,
        "expired": 0,
    }
    assert inbox.check_slas(now=t0 + timedelta(seconds=SLA - 119))["warned"] == 1
    assert fresh(escalation).warned_at == t0 + timedelta(seconds=SLA - 119)
    assert inbox.check_slas(now=t0 + timedelta(seconds=SLA - 60))["warned"] == 0
    assert verbs(escalation) == ["escalation.opened", "escalation.sla_warned"]
    assert fresh(escalation).state == "open"


def test_at_expiry_an_escalation_moves_up_to_the_coe_queue(world, governed, t0):
    escalation = submit(world.agent_a, {"amount": 5000}, now=t0)
    inbox.claim(world.supervisor_a, escalation)
    later = t0 + timedelta(seconds=SLA)
    assert inbox.check_slas(now=later)["escalated"] == 1
    old = fresh(escalation)
    assert old.state == "reassigned"
    assert old.decision_note == "SLA expired"
    assert old.decided_by is None
    successor = Escalation.objects.get(previous=old)
    assert successor.queue.slug == COE_QUEUE_SLUG
    assert successor.state == "open"
    assert successor.sla_due_at == later + timedelta(seconds=3600)
    assert verbs(escalation)[-1] == "escalation.sla_escalated"
    assert ActionRequest.objects.get(pk=escalation.action_id).state == "pending_approval"
    # Nothing more happens until the COE's own deadline.
    assert inbox.check_slas(now=later + timedelta(seconds=60))["escalated"] == 0


def test_at_the_end_of_the_chain_the_action_expires_explicitly(world, governed, t0):
    escalation = submit(world.agent_a, {"amount": 5000}, now=t0, callback_url="https://a.example/")
    inbox.check_slas(now=t0 + timedelta(seconds=SLA))
    top = Escalation.objects.get(previous=escalation)
    end = top.sla_due_at
    assert inbox.check_slas(now=end) == {"warned": 0, "escalated": 0, "expired": 1}
    top.refresh_from_db()
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert top.state == "expired"
    assert action.state == ActionState.EXPIRED
    assert action.completed_at == end
    assert "SLA" in action.error
    assert verbs(top)[-1] == "escalation.expired"
    assert verbs(action)[-1] == "action.expired"
    # Expired, never silently rejected, and the agent is told.
    assert not AuditEntry.objects.filter(verb="action.rejected").exists()
    assert WebhookDelivery.objects.get(action=action).event == "action.expired"


def test_decided_escalations_are_left_alone(world, governed, t0):
    escalation = submit(world.agent_a, {"amount": 5000}, now=t0)
    inbox.reject(world.supervisor_a, escalation, "No.")
    assert inbox.check_slas(now=t0 + timedelta(days=1)) == {
        "warned": 0,
        "escalated": 0,
        "expired": 0,
    }
    assert fresh(escalation).state == "rejected"


def test_the_beat_runs_the_sla_check_every_30_seconds(world, governed, t0):
    schedule = settings.CELERY_BEAT_SCHEDULE["inbox-slas"]
    assert schedule["task"] == check_escalation_slas.name
    assert schedule["schedule"] == 30.0
    escalation = submit(world.agent_a, {"amount": 5000}, now=t0 - timedelta(seconds=SLA + 1))
    assert check_escalation_slas() == {"warned": 0, "escalated": 1, "expired": 0}
    assert fresh(escalation).state == "reassigned"
