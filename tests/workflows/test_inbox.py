"""The inbox's services: routing, who may work a queue, claiming, deciding, reassigning and
suspending, each recorded in the ledger. The other test_inbox* files import the helpers."""

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from guardian.shortcuts import assign_perm

from agents.models import AgentState
from governance import policies
from governance import services as governance_services
from governance.models import AuditEntry, MemberRole
from governance.redaction import PREFIX, fingerprint, redact
from tests.factories import SYSTEM, make_user
from workflows import inbox
from workflows.decisions import decide_action
from workflows.models import (
    ActionRequest,
    ActionState,
    ActionType,
    Escalation,
    Queue,
    SandboxEffect,
    WebhookDelivery,
)
from workflows.queues import (
    COE_QUEUE_SLUG,
    coe_queue,
    may_work,
    route_queue,
    unit_queue,
)

PO = "erp.purchase_order.create"
IBAN = "DE44500105175407324931"
SCHEMA = {
    "type": "object",
    "properties": {
        "amount": {"type": "number", "exclusiveMinimum": 0},
        "supplier": {"type": "string", "minLength": 1},
        "iban": {"type": "string"},
        "due": {"type": "string", "format": "date"},
    },
    "required": ["amount"],
    "additionalProperties": False,
}


def make_governed(*, route: str = "procurement", sla_seconds: int | None = 600) -> ActionType:
    """A purchase-order action type (IBAN sensitive) and a COE policy: up to 1000 allowed,
    above that approval (routed to `route`, a queue that need not exist, within
    `sla_seconds`), above 50000 denied."""
    action_type = ActionType.objects.create(
        name=PO, payload_schema=SCHEMA, sensitive_fields=["iban"], risk_tier="high"
    )
    policy = policies.create_policy(SYSTEM, "purchasing", "Purchasing")
    draft = policy.versions.get()
    rules = [
        {"name": "small", "condition": "payload.amount <= 1000.0", "effect": "allow"},
        {
            "name": "large orders",
            "condition": "payload.amount > 1000.0",
            "effect": "require_approval",
            "route": route,
            "sla_seconds": sla_seconds,
        },
        {
            "name": "huge",
            "condition": "payload.amount > 50000.0",
            "effect": "deny",
            "reason": "Orders above 50000 are never placed by agents.",
        },
    ]
    for rule in rules:
        policies.add_rule(SYSTEM, draft, action_pattern="erp.purchase_order.*", **rule)
    policies.publish(SYSTEM, draft)
    return action_type


def submit(agent, payload: dict, *, now=None, callback_url: str = "") -> Escalation:
    """An action of `agent` that policy sends for approval, recorded as the gateway does."""
    now = now or timezone.now()
    outcome = decide_action(agent, PO, payload, actor=SYSTEM, source="gateway", now=now)
    assert outcome.record.effect == "require_approval", outcome.record.reasons
    with transaction.atomic():
        action = ActionRequest.objects.create(
            agent=agent,
            business_unit_id=agent.business_unit_id,
            action_type=ActionType.objects.get(name=PO),
            idempotency_key=uuid.uuid4().hex,
            request_hash=fingerprint({"payload": payload}),
            payload=payload,
            payload_hash=fingerprint(payload),
            decision=outcome.record,
            policy_version_ids=outcome.record.policy_version_ids,
            callback_url=callback_url,
            state=ActionState.PENDING_APPROVAL,
            created_at=now,
        )
        return inbox.open_escalation(action, outcome.record, outcome.record.route, now=now)


def fresh(escalation: Escalation) -> Escalation:
    return Escalation.objects.select_related("action").get(pk=escalation.pk)


def verbs(obj) -> list[str]:
    entries = AuditEntry.objects.filter(object_id=str(obj.pk)).order_by("id")
    return list(entries.values_list("verb", flat=True))


@pytest.fixture
def governed(world):
    return make_governed()


@pytest.fixture
def after_commit(django_capture_on_commit_callbacks):
    """Run what a commit starts, the execution task included (in this process)."""
    from autonomy.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield django_capture_on_commit_callbacks
    app.conf.task_always_eager = eager


# Routing


def test_a_route_naming_a_queue_of_the_actions_unit_is_used(world):
    queue = Queue.objects.create(slug="a-buyers", name="Buyers", business_unit=world.unit_a)
    make_governed(route="a-buyers")
    escalation = submit(world.agent_a, {"amount": 5000})
    assert escalation.queue == queue


def test_a_route_to_another_units_queue_falls_back_to_the_units_own_queue(world):
    Queue.objects.create(slug="b-buyers", name="B buyers", business_unit=world.unit_b)
    make_governed(route="b-buyers")
    escalation = submit(world.agent_a, {"amount": 5000})
    assert escalation.queue.slug == "unit-a-approvals"
    assert escalation.queue.business_unit == world.unit_a
    assert escalation.queue.parent.slug == COE_QUEUE_SLUG
    assert escalation.queue.parent.business_unit is None


def test_without_a_usable_route_the_action_types_queue_is_used(world, governed):
    queue = Queue.objects.create(slug="po-desk", name="PO desk", business_unit=world.unit_a)
    governed.approval_queue = queue
    governed.save()
    assert submit(world.agent_a, {"amount": 5000}).queue == queue


def test_routing_sees_a_queue_moved_to_another_unit_at_once(world):
    """Queues come from the in-memory catalogue: saving one must reach routing at once."""
    queue = Queue.objects.create(slug="a-buyers", name="Buyers", business_unit=world.unit_a)
    make_governed(route="a-buyers")
    assert submit(world.agent_a, {"amount": 5000}).queue == queue
    queue.business_unit = world.unit_b
    queue.save()
    assert submit(world.agent_a, {"amount": 5000}).queue.slug == "unit-a-approvals"
    assert submit(world.agent_b, {"amount": 5000}).queue == queue


def test_a_coe_queue_may_be_routed_to_from_any_unit(world):
    make_governed(route=COE_QUEUE_SLUG)
    coe_queue()
    assert submit(world.agent_b, {"amount": 5000}).queue.slug == COE_QUEUE_SLUG


def test_unit_queues_are_created_once(world, governed):
    assert unit_queue(world.unit_a) == unit_queue(world.unit_a)
    assert Queue.objects.filter(slug="unit-a-approvals").count() == 1
    action = submit(world.agent_a, {"amount": 5000}).action
    assert route_queue(action, "no-such-queue").slug == "unit-a-approvals"


# Opening


def test_an_escalation_carries_the_decisions_reasons_rules_sla_and_priority(world, governed):
    now = timezone.now()
    escalation = submit(world.agent_a, {"amount": 5000}, now=now)
    assert escalation.state == "open"
    assert escalation.sla_due_at == now + timedelta(seconds=600)
    assert escalation.priority == 1  # a high-risk action type
    assert [rule["name"] for rule in escalation.matched] == ["large orders"]
    assert escalation.reason
    assert escalation.business_unit == world.unit_a
    assert verbs(escalation) == ["escalation.opened"]


def test_without_a_rule_sla_the_queues_sla_applies(world):
    make_governed(sla_seconds=None)
    now = timezone.now()
    escalation = submit(world.agent_a, {"amount": 5000}, now=now)
    assert escalation.sla_due_at == now + timedelta(seconds=escalation.queue.sla_seconds)


def test_a_failed_action_is_escalated_to_its_units_queue_to_be_looked_at(world, governed):
    action = submit(world.agent_a, {"amount": 5000}).action
    ActionRequest.objects.filter(pk=action.pk).update(state=ActionState.FAILED)
    escalation = inbox.escalate_failure(action, "failure", "The ERP refused the order.")
    assert escalation.kind == "failure"
    assert escalation.queue.slug == "unit-a-approvals"
    assert escalation.reason == "The ERP refused the order."
    with pytest.raises(inbox.InboxError, match="nothing to approve"):
        inbox.approve(world.supervisor_a, escalation)
    inbox.reject(world.supervisor_a, escalation, "Seen; the supplier is closed.")
    assert fresh(escalation).state == "rejected"
    assert ActionRequest.objects.get(pk=action.pk).state == ActionState.FAILED


# Who may work a queue


def test_supervisors_of_the_unit_and_coe_staff_work_its_queue_and_nobody_else(world, governed):
    queue = submit(world.agent_a, {"amount": 5000}).queue
    assert may_work(world.supervisor_a, queue)
    assert may_work(world.coe, queue)
    for outsider in (world.supervisor_b, world.builder_a, world.auditor):
        assert not may_work(outsider, queue)


def test_a_queue_grant_lets_members_of_the_unit_work_it_but_not_outsiders(world, governed):
    queue = submit(world.agent_a, {"amount": 5000}).queue
    approvers = Group.objects.create(name="unit-a-approvers")
    world.auditor.groups.add(approvers)
    world.supervisor_b.groups.add(approvers)
    assign_perm("workflows.work_queue", approvers, queue)
    assert may_work(world.auditor, queue)
    assert not may_work(world.supervisor_b, queue)  # not a member of unit A


def test_coe_queues_are_worked_by_coe_staff_and_grant_holders_only(world, governed):
    queue = coe_queue()
    assert may_work(world.coe, queue)
    assert not may_work(world.supervisor_a, queue)
    assign_perm("workflows.work_queue", world.supervisor_b, queue)
    assert may_work(world.supervisor_b, queue)


def test_each_person_sees_only_the_escalations_of_queues_they_work(world, governed):
    mine = submit(world.agent_a, {"amount": 5000})
    theirs = submit(world.agent_b, {"amount": 5000})
    assert list(Escalation.objects.for_person(world.supervisor_a)) == [mine]
    assert list(Escalation.objects.for_person(world.supervisor_b)) == [theirs]
    assert set(Escalation.objects.for_person(world.coe)) == {mine, theirs}
    assert list(Escalation.objects.for_person(world.builder_a)) == []


def test_nobody_acts_on_an_escalation_outside_their_queues(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000})
    for operation in (
        lambda: inbox.claim(world.supervisor_b, escalation),
        lambda: inbox.approve(world.supervisor_b, escalation),
        lambda: inbox.reject(world.supervisor_b, escalation, "no"),
        lambda: inbox.reassign(world.supervisor_b, escalation, queue=coe_queue()),
    ):
        with pytest.raises(inbox.OutOfScope):
            operation()
    assert fresh(escalation).state == "open"


# Claiming


def test_a_claimed_escalation_is_decided_only_by_its_claimer(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000})
    colleague = make_user("colleague")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.SUPERVISOR)
    inbox.claim(world.supervisor_a, escalation)
    assert inbox.claim(world.supervisor_a, escalation).state == "claimed"  # idempotent
    with pytest.raises(inbox.ClaimedByOther, match="supervisor-a has claimed"):
        inbox.claim(colleague, escalation)
    with pytest.raises(inbox.ClaimedByOther):
        inbox.approve(colleague, escalation)
    inbox.unclaim(world.supervisor_a, escalation)
    claimed = inbox.claim(colleague, escalation)
    assert claimed.claimed_by == colleague
    assert verbs(escalation) == [
        "escalation.opened",
        "escalation.claimed",
        "escalation.unclaimed",
        "escalation.claimed",
    ]


# Approving


def test_approving_binds_the_payload_hash_and_policy_versions_and_queues_it(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000, "supplier": "ACME"})
    decided = inbox.approve(world.supervisor_a, escalation, "Budget confirmed.")
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert decided.state == "approved"
    assert decided.decided_by == world.supervisor_a
    assert decided.decision_note == "Budget confirmed."
    assert action.state == ActionState.QUEUED
    assert action.approved_payload_hash == action.payload_hash == fingerprint(action.payload)
    assert action.approved_policy_version_ids == action.decision.policy_version_ids != []
    assert action.approved_by == world.supervisor_a
    assert verbs(escalation)[-1] == "escalation.approved"
    assert verbs(action)[-1] == "action.approved"


def test_an_approved_action_is_executed_once_the_approval_commits(world, governed, after_commit):
    escalation = submit(world.agent_a, {"amount": 5000, "supplier": "ACME"})
    with after_commit(execute=True):
        inbox.approve(world.supervisor_a, escalation)
        assert fresh(escalation).action.state == ActionState.QUEUED
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert action.state == ActionState.SUCCEEDED
    assert SandboxEffect.objects.get(action=action).payload == {"amount": 5000, "supplier": "ACME"}


def test_a_decided_escalation_cannot_be_decided_again(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000})
    inbox.approve(world.supervisor_a, escalation)
    with pytest.raises(inbox.AlreadyDecided, match="Already decided: approved by supervisor-a"):
        inbox.approve(world.coe, escalation)
    with pytest.raises(inbox.AlreadyDecided):
        inbox.reject(world.coe, escalation, "Too late.")


def test_an_owner_never_approves_their_own_agents_request(world, governed):
    # builder A owns agent A; as a supervisor of unit A too, they could otherwise decide.
    governance_services.add_membership(SYSTEM, world.builder_a, world.unit_a, MemberRole.SUPERVISOR)
    escalation = submit(world.agent_a, {"amount": 5000})
    with pytest.raises(inbox.NotAllowed, match="You own agent agent-a"):
        inbox.approve(world.builder_a, escalation)
    with pytest.raises(inbox.NotAllowed):
        inbox.edit_and_approve(world.builder_a, escalation, {"amount": 2000})
    assert fresh(escalation).state == "open"
    assert fresh(escalation).action.state == ActionState.PENDING_APPROVAL


# Editing and approving


def test_an_edit_that_breaks_the_schema_is_refused_with_field_errors(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000})
    before = AuditEntry.objects.count()
    with pytest.raises(inbox.InboxError) as refused:
        inbox.edit_and_approve(
            world.supervisor_a, escalation, {"amount": -1, "due": "not a date", "x": 1}
        )
    assert set(refused.value.fields) == {"payload", "payload.amount", "payload.due"}
    assert fresh(escalation).state == "open"
    assert fresh(escalation).action.payload == {"amount": 5000}
    assert AuditEntry.objects.count() == before


def test_an_edit_that_policy_denies_is_refused_with_the_reasons(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000})
    with pytest.raises(inbox.InboxError, match="never placed by agents"):
        inbox.edit_and_approve(world.supervisor_a, escalation, {"amount": 90000})
    assert fresh(escalation).state == "open"
    assert fresh(escalation).action.payload == {"amount": 5000}


def test_an_edit_is_decided_again_and_the_approval_binds_the_edited_payload(
    world, governed, after_commit
):
    escalation = submit(world.agent_a, {"amount": 5000, "supplier": "ACME", "iban": IBAN})
    original_hash = fresh(escalation).action.payload_hash
    shown = redact({"amount": 5000, "supplier": "ACME", "iban": IBAN}, ["iban"])
    # The approver edits what they were shown: the IBAN stays a hash there.
    edited = {**shown, "amount": 800}
    with after_commit(execute=True):
        inbox.edit_and_approve(world.supervisor_a, escalation, edited, "Capped.")
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert action.payload == {"amount": 800, "supplier": "ACME", "iban": IBAN}
    assert action.payload_hash == fingerprint(action.payload) != original_hash
    assert action.approved_payload_hash == action.payload_hash
    # The executor ran the edited payload (it re-checks the hash against the approval).
    assert action.state == ActionState.SUCCEEDED
    assert SandboxEffect.objects.get(action=action).payload["amount"] == 800
    assert fresh(escalation).edited_payload["iban"].startswith(PREFIX)
    assert fresh(escalation).edited_payload["amount"] == 800
    entry = AuditEntry.objects.filter(verb="escalation.approved").get()
    assert entry.data["edited"] is True
    assert entry.data["original_payload_hash"] == original_hash
    assert entry.data["redecision_effect"] == "allow"
    assert IBAN not in str(entry.data)


def test_an_edit_still_needing_approval_is_approved_with_the_new_decisions_versions(
    world, governed
):
    escalation = submit(world.agent_a, {"amount": 5000})
    inbox.edit_and_approve(world.supervisor_a, escalation, {"amount": 7000})
    action = ActionRequest.objects.get(pk=escalation.action_id)
    entry = AuditEntry.objects.filter(verb="escalation.approved").get()
    assert entry.data["redecision_effect"] == "require_approval"
    assert action.payload == {"amount": 7000}
    assert action.approved_policy_version_ids == action.policy_version_ids


# Rejecting


@pytest.mark.parametrize("reason", ["", "   "])
def test_rejecting_needs_a_reason(world, governed, reason):
    escalation = submit(world.agent_a, {"amount": 5000})
    with pytest.raises(inbox.InboxError, match="Give a reason") as refused:
        inbox.reject(world.supervisor_a, escalation, reason)
    assert "reason" in refused.value.fields
    assert fresh(escalation).state == "open"


def test_a_rejection_ends_the_action_with_the_reason_and_tells_the_agent(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000}, callback_url="https://agent.example/cb")
    inbox.reject(world.supervisor_a, escalation, "Supplier not approved.")
    action = ActionRequest.objects.get(pk=escalation.action_id)
    assert action.state == ActionState.REJECTED
    callback = WebhookDelivery.objects.get(action=action)
    assert callback.event == "action.rejected"
    assert "Supplier not approved." in callback.body["data"]["error"]
    assert action.completed_at is not None
    assert "Supplier not approved." in action.error
    assert fresh(escalation).state == "rejected"
    assert verbs(action)[-1] == "action.rejected"
    assert verbs(escalation)[-1] == "escalation.rejected"


# Reassigning


def test_reassigning_to_a_queue_opens_a_linked_escalation_there(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000})
    successor = inbox.reassign(world.supervisor_a, escalation, queue=coe_queue(), note="Policy")
    old = fresh(escalation)
    assert old.state == "reassigned"
    assert old.decided_by == world.supervisor_a
    assert successor.previous == old
    assert successor.queue.slug == COE_QUEUE_SLUG
    assert successor.state == "open"
    assert successor.action_id == old.action_id
    assert verbs(escalation)[-1] == "escalation.reassigned"
    # Unit A's supervisors do not work the COE queue: it has left their inbox.
    assert list(Escalation.objects.for_person(world.supervisor_a).filter(state="open")) == []


def test_reassigning_to_a_person_keeps_the_queue_and_the_sla(world, governed):
    colleague = make_user("colleague")
    governance_services.add_membership(SYSTEM, colleague, world.unit_a, MemberRole.SUPERVISOR)
    escalation = submit(world.agent_a, {"amount": 5000})
    successor = inbox.reassign(world.supervisor_a, escalation, person=colleague)
    assert successor.assigned_to == colleague
    assert successor.queue == escalation.queue
    assert successor.sla_due_at == escalation.sla_due_at
    with pytest.raises(inbox.NotAllowed, match="assigned to colleague"):
        inbox.approve(world.supervisor_a, successor)
    inbox.approve(colleague, successor)


def test_reassigning_refuses_other_units_queues_and_people_outside_the_queue(world, governed):
    escalation = submit(world.agent_a, {"amount": 5000})
    foreign = Queue.objects.create(slug="b-desk", name="B desk", business_unit=world.unit_b)
    with pytest.raises(inbox.InboxError) as refused:
        inbox.reassign(world.supervisor_a, escalation, queue=foreign)
    assert "queue" in refused.value.fields
    with pytest.raises(inbox.InboxError) as refused:
        inbox.reassign(world.supervisor_a, escalation, person=world.supervisor_b)
    assert "person" in refused.value.fields
    with pytest.raises(inbox.InboxError):
        inbox.reassign(world.supervisor_a, escalation)
    assert fresh(escalation).state == "open"


# Suspending the agent


def test_suspending_from_the_inbox_cancels_queued_and_pending_actions(world, governed):
    first = submit(world.agent_a, {"amount": 5000})
    second = submit(world.agent_a, {"amount": 6000})
    inbox.claim(world.supervisor_a, second)
    queued = submit(world.agent_a, {"amount": 7000})
    inbox.approve(world.supervisor_a, queued)
    other_unit = submit(world.agent_b, {"amount": 5000})
    cancelled = inbox.suspend_agent(world.supervisor_a, world.agent_a, "Ordering in a loop.")
    assert cancelled == 3
    world.agent_a.refresh_from_db()
    assert world.agent_a.state == AgentState.SUSPENDED
    for escalation in (first, second, queued):
        action = ActionRequest.objects.get(pk=escalation.action_id)
        assert action.state == ActionState.CANCELLED
        assert "Ordering in a loop." in action.error
        assert verbs(action)[-1] == "action.cancelled"
    assert fresh(first).state == fresh(second).state == "cancelled"
    assert fresh(queued).state == "approved"
    assert verbs(first)[-1] == "escalation.cancelled"
    assert fresh(other_unit).state == "open"


def test_suspending_needs_a_note_and_a_supervisor(world, governed):
    submit(world.agent_a, {"amount": 5000})
    with pytest.raises(inbox.InboxError, match="note is required"):
        inbox.suspend_agent(world.supervisor_a, world.agent_a, "")
    with pytest.raises(inbox.NotAllowed):
        inbox.suspend_agent(world.supervisor_b, world.agent_a, "Not mine.")
    world.agent_a.refresh_from_db()
    assert world.agent_a.state == AgentState.ACTIVE
    assert ActionRequest.objects.filter(state=ActionState.PENDING_APPROVAL).count() == 1
