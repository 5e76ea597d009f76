"""Deciding an escalation: claim it, give it back, approve its action (as submitted or
edited) or reject it. Each function is one transaction that locks the rows (see
workflows.inbox.records), checks who may act (workflows.inbox.rules), takes the
escalation's transition, writes the ledger and tells the live inbox after commit.

Approving binds the payload's hash and the policy versions of the decision the approver
saw; the executor checks both.
"""

import copy
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.models import DecisionRecord
from governance.redaction import fingerprint, redact
from workflows import live
from workflows.decisions import decide_action
from workflows.dispatch import enqueue_execution
from workflows.inbox.errors import ClaimedByOther, InboxError
from workflows.inbox.records import finish, lock, name, record_action, save_change
from workflows.inbox.rules import (
    claimed_by_other,
    may_release,
    require_agent_active,
    require_not_owner,
    require_open,
    require_pending,
    require_scope,
)
from workflows.models import ActionRequest, ActionState, Escalation, EscalationState

__all__ = ["approve", "claim", "edit_and_approve", "reject", "unclaim"]


@transaction.atomic
def claim(user, escalation: Escalation, *, now=None) -> Escalation:
    """Take an open escalation so that nobody else decides it meanwhile (idempotent)."""
    _, escalation = lock(escalation)
    require_scope(user, escalation)
    if escalation.state == EscalationState.CLAIMED and escalation.claimed_by_id == user.pk:
        return escalation
    require_open(user, escalation)
    save_change(escalation, escalation.claim(user, now or timezone.now()), user)
    live.publish_escalation(escalation.pk, "escalation.claimed")
    return escalation


@transaction.atomic
def unclaim(user, escalation: Escalation) -> Escalation:
    """Give a claimed escalation back to its queue (the claimer, or COE staff for anyone)."""
    _, escalation = lock(escalation)
    require_scope(user, escalation)
    if escalation.state != EscalationState.CLAIMED:
        if escalation.state == EscalationState.OPEN:
            return escalation
        require_open(user, escalation)
    if claimed_by_other(user, escalation) and not may_release(user):
        raise ClaimedByOther(f"{name(escalation.claimed_by)} has claimed this escalation.")
    save_change(escalation, escalation.unclaim(), user)
    live.publish_escalation(escalation.pk, "escalation.claimed")
    return escalation


def _approve(
    user,
    action: ActionRequest,
    escalation: Escalation,
    *,
    note: str,
    now: datetime,
    policy_version_ids: list,
    edited_payload=None,
    **data,
) -> Escalation:
    """Bind what the approver saw (payload hash, policy versions) and queue the action."""
    action.approve(user, now, policy_version_ids)
    action.save(
        update_fields=[
            "payload",
            "payload_hash",
            "approved_payload_hash",
            "approved_policy_version_ids",
            "approved_by",
            "approved_at",
            "state",
            "queued_at",
        ]
    )
    change = escalation.approve(user, note, now, edited_payload=edited_payload)
    facts = {
        "payload_hash": action.payload_hash,
        "policy_version_ids": action.approved_policy_version_ids,
        **data,
    }
    save_change(escalation, change, user, **facts)
    record_action(
        "action.approved",
        user,
        action,
        escalation_id=str(escalation.pk),
        **facts,
        **change.data,
    )
    enqueue_execution(action.pk)
    live.publish_escalation(escalation.pk, "escalation.decided")
    live.publish_activity(action.pk)
    return escalation


def _approvable(user, escalation: Escalation) -> tuple[ActionRequest, Escalation]:
    """Lock the action and the escalation and check that `user` may approve it now."""
    action, escalation = lock(escalation)
    require_scope(user, escalation)
    require_open(user, escalation)
    require_pending(action, escalation)
    require_agent_active(action)
    require_not_owner(user, action)
    return action, escalation


@transaction.atomic
def approve(user, escalation: Escalation, note: str = "", *, now=None) -> Escalation:
    """Approve the action as it was submitted and queue it for execution."""
    action, escalation = _approvable(user, escalation)
    versions = action.decision.policy_version_ids if action.decision else action.policy_version_ids
    return _approve(
        user,
        action,
        escalation,
        note=(note or "").strip(),
        now=now or timezone.now(),
        policy_version_ids=versions,
        edited=False,
    )


def _restore_sensitive(edited: dict, original: dict, sensitive: list[str]) -> dict:
    """People see sensitive fields as keyed hashes; a field left as its hash in an edit keeps
    its original value."""
    shown = redact(original, sensitive)
    result = copy.deepcopy(edited)
    for path in sensitive:
        *parents, last = path.split(".")
        nodes = [result, shown, original]
        for part in parents:
            nodes = [node.get(part) if isinstance(node, dict) else None for node in nodes]
        mine, hashed, clear = nodes
        if not all(isinstance(node, dict) for node in nodes) or last not in clear:
            continue
        if last in mine and last in hashed and mine[last] == hashed[last] != clear[last]:
            mine[last] = clear[last]
    return result


@transaction.atomic
def edit_and_approve(
    user, escalation: Escalation, payload, note: str = "", *, now=None
) -> Escalation:
    """Approve an edited payload: it is checked against the action type's schema and decided
    again by policy (not counted against limits); a denial refuses the edit with the
    reasons, otherwise the approval binds the edited payload."""
    now = now or timezone.now()
    action, escalation = _approvable(user, escalation)
    if not isinstance(payload, dict):
        raise InboxError(
            "The edited payload must be a JSON object.",
            {"payload": ["The payload must be a JSON object."]},
        )
    sensitive = list(action.action_type.sensitive_fields or [])
    payload = _restore_sensitive(payload, action.payload, sensitive)
    errors = action.action_type.payload_errors(payload)
    if errors:
        raise InboxError("The edited payload does not match the action's schema.", errors)
    outcome = decide_action(
        action.agent,
        action.action_type.name,
        payload,
        actor=user,
        source=DecisionRecord.Source.GATEWAY,
        count=False,
        now=now,
    )
    if outcome.record.effect == "deny":
        reasons = list(outcome.record.reasons) or ["Denied by policy."]
        raise InboxError(
            "Policy denies the edited payload: " + "; ".join(reasons), {"payload": reasons}
        )
    original_hash = action.payload_hash
    action.payload = payload
    action.payload_hash = fingerprint(payload)
    return _approve(
        user,
        action,
        escalation,
        note=(note or "").strip(),
        now=now,
        policy_version_ids=outcome.record.policy_version_ids,
        edited_payload=redact(payload, sensitive),
        edited=True,
        original_payload_hash=original_hash,
        redecision_id=str(outcome.record.pk),
        redecision_effect=outcome.record.effect,
    )


@transaction.atomic
def reject(user, escalation: Escalation, reason: str, *, now=None) -> Escalation:
    """Refuse the action with a reason (required: the agent and the ledger keep it). An
    escalation about a failed action is closed; the action keeps its state."""
    reason = (reason or "").strip()
    if not reason:
        raise InboxError(
            "Give a reason to reject; the agent and the ledger keep it.",
            {"reason": ["A reason is required."]},
        )
    now = now or timezone.now()
    action, escalation = lock(escalation)
    require_scope(user, escalation)
    require_open(user, escalation)
    save_change(escalation, escalation.reject(user, reason, now), user)
    if action.state == ActionState.PENDING_APPROVAL:
        finish(action, ActionState.REJECTED, f"Rejected by {name(user)}: {reason}", now)
        record_action(
            "action.rejected", user, action, escalation_id=str(escalation.pk), reason=reason
        )
    live.publish_escalation(escalation.pk, "escalation.decided")
    return escalation
