"""The action gateway: one governed action from an agent's request to its first answer.

`submit()` checks the payload against the action type's schema, decides the action
(kill switches, limits, policy), and writes the action request, its decision record, the
ledger entries and any escalation together, as one statement on PostgreSQL
(autonomy.core.statements.insert_together); execution is enqueued and the inbox told only
after commit.
`(agent, Idempotency-Key)` is unique: a replay returns the first answer, the same key with
another body is refused, and a key still in flight is 409.
"""

from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Agent, AgentState
from autonomy.core.statements import insert_together
from governance import ledger, limits, policies
from governance.models import AuditEntry
from governance.redaction import fingerprint, redact
from workflows import catalog, inbox, live, reads, webhooks
from workflows.connectors import connector_for
from workflows.decisions import decide_action
from workflows.dispatch import enqueue_execution
from workflows.models import ActionRequest, ActionState, ActionType

__all__ = ["GatewayAnswer", "action_json", "submit"]


@dataclass(frozen=True)
class GatewayAnswer:
    """The HTTP status and JSON body answered to the agent (and kept for replays)."""

    status: int
    body: dict
    headers: dict | None = None


def _error(status: int, code: str, message: str, fields=None, **extra) -> GatewayAnswer:
    body = {"error": {"code": code, "message": message, "fields": fields or {}}, **extra}
    return GatewayAnswer(status, body)


def action_json(action: ActionRequest) -> dict:
    """An action as agents and people see it: sensitive payload fields hashed."""
    sensitive = action.action_type.sensitive_fields or []
    decision = action.decision
    body = {
        "id": str(action.id),
        "action": action.action_type.name,
        "state": action.state,
        "shadow": action.shadow,
        "agent": action.agent.slug,
        "payload": redact(action.payload, sensitive),
        "reason": action.reason,
        "created_at": action.created_at.isoformat(),
        "completed_at": action.completed_at.isoformat() if action.completed_at else None,
        "decision": None,
        "escalation_id": None,
        "result": redact(action.result, sensitive) if action.result is not None else None,
        "error": action.error,
    }
    if decision is not None:
        body["decision"] = {
            "id": str(decision.pk),
            "effect": decision.effect,
            "reasons": decision.reasons,
            "matched": decision.matched,
            "route": decision.route,
            "policy_version_ids": decision.policy_version_ids,
        }
    if hasattr(action, "latest_escalation_id"):  # annotated by the API's visible_actions()
        escalation_id = action.latest_escalation_id
    else:
        escalation = action.escalations.order_by("-created_at").first()
        escalation_id = escalation.pk if escalation is not None else None
    if escalation_id is not None:
        body["escalation_id"] = str(escalation_id)
    return body


def _rate_limited(decision_matched: list[dict]) -> int | None:
    """Seconds until retry when a hard "actions" limit denied the action, else None."""
    specs = {str(spec.rule_id): spec for spec in policies.current_limit_specs()}
    for matched in decision_matched:
        rule_id, _, kind = str(matched["id"]).partition(":")
        spec = specs.get(rule_id)
        if (
            kind == "hard"
            and spec is not None
            and spec.metric == "actions"
            and not matched["log_only"]
        ):
            window = limits.WINDOW_SECONDS[spec.window]
            now = timezone.now().timestamp()
            return max(1, int(window - now % window))
    return None


def _replay(existing: ActionRequest, request_hash: str) -> GatewayAnswer:
    if existing.request_hash != request_hash:
        return _error(
            422,
            "idempotency_key_reused",
            "This Idempotency-Key was used for a different request; use a new key.",
        )
    reading = existing.action_type.kind == ActionType.Kind.READ and existing.state in (
        ActionState.QUEUED,
        ActionState.EXECUTING,
    )
    if existing.response_status is None or reading:
        # An allowed read keeps the gateway's "queued" answer only until its data is in.
        return _error(409, "in_flight", "A request with this Idempotency-Key is still running.")
    return GatewayAnswer(existing.response_status, existing.response_body)


def _replay_if_known(agent, idempotency_key: str, request_hash: str) -> GatewayAnswer | None:
    """The answer to a repeat of an earlier request with this key, or None if it is new."""
    existing = (
        ActionRequest.objects.filter(agent=agent, idempotency_key=idempotency_key)
        .select_related("action_type")
        .only("request_hash", "response_status", "response_body", "state", "action_type__kind")
        .first()
    )
    return _replay(existing, request_hash) if existing is not None else None


def submit(
    agent: Agent,
    idempotency_key: str,
    body: dict,
    *,
    now: datetime | None = None,
) -> GatewayAnswer:
    """Govern one action request of `agent` and answer it (see the module docstring).

    A new request is not looked up first: its row is inserted, and only when the key's
    unique constraint refuses it is the first request's answer read and replayed (a
    replay still counts as an attempt against rate limits, like a denied action). Error
    answers that write nothing look for a first request before answering."""
    request_hash = fingerprint(body)
    if agent.state == AgentState.SUSPENDED:
        return _error(423, "agent_suspended", f"Agent {agent.slug} is suspended.")
    action_type = catalog.action_type_named(body["action"])
    if action_type is None:
        return _replay_if_known(agent, idempotency_key, request_hash) or _error(
            422,
            "unknown_action",
            f"No action type {body['action']!r} is registered.",
            {"action": ["Unknown action type."]},
        )
    payload = body.get("payload", {})
    errors = action_type.payload_errors(payload)
    if errors:
        return _replay_if_known(agent, idempotency_key, request_hash) or _error(
            422, "invalid_payload", "The payload does not match the action's schema.", errors
        )
    try:
        answer = _govern(agent, action_type, idempotency_key, request_hash, body, now)
    except IntegrityError:
        # This key was used before (or by a request that committed first): replay it.
        replayed = _replay_if_known(agent, idempotency_key, request_hash)
        if replayed is None:
            raise
        return replayed
    if answer.status == 201 and action_type.kind == ActionType.Kind.READ:
        # An allowed read is answered within this request, after the commit (workflows.reads).
        return GatewayAnswer(*reads.perform(answer.body))
    return answer


def _govern(agent, action_type, idempotency_key, request_hash, body, now) -> GatewayAnswer:
    now = now or timezone.now()
    payload = body.get("payload", {})
    counted = ()
    try:
        outcome = decide_action(
            agent,
            action_type.name,
            payload,
            actor=ledger.Actor.for_agent(agent),
            source="gateway",
            reported=body.get("reported") or {},
            count=True,
            now=now,
            persist=False,
            action_type=action_type,
        )
        record, decision = outcome.record, outcome.decision
        counted = outcome.counted
        effect = str(decision.effect)
        state = {
            "allow": ActionState.QUEUED,
            "require_approval": ActionState.PENDING_APPROVAL,
            "deny": ActionState.DENIED,
        }[effect]
        action = ActionRequest(
            agent=agent,
            business_unit_id=agent.business_unit_id,
            action_type=action_type,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            payload=payload,
            payload_hash=record.payload_hash,
            reason=body.get("reason", ""),
            data_used=body.get("data_used") or [],
            task_ref=str(body.get("task") or ""),
            callback_url=body.get("callback_url") or "",
            decision=record,
            policy_version_ids=record.policy_version_ids,
            shadow=decision.shadow,
            state=state,
            created_at=now,
            queued_at=now if state == ActionState.QUEUED else None,
            completed_at=now if state == ActionState.DENIED else None,
        )
        if state == ActionState.PENDING_APPROVAL:
            return _escalate(action, record, outcome.ledger_data, decision.route or "")
        # The id is known before the insert, so the first answer is stored with it, and
        # the decision, the action and its ledger entry go in as one statement: one round
        # trip and its own commit (autonomy.core.statements), unless a callback row joins them.
        answer = _answer(action, effect, record, None)
        action.response_status, action.response_body = answer.status, answer.body
        entry = _action_entry(action, outcome.ledger_data, None)
        callback = state == ActionState.DENIED and action.callback_url
        with transaction.atomic() if callback else nullcontext():
            insert_together(record, action, entry)
            if state == ActionState.QUEUED:
                # The executor pushes this action's row to the feed when it runs, moments
                # from now: one push per action instead of two on the hot path. An allowed
                # read is not enqueued: submit() runs it once this commits.
                if action_type.kind != ActionType.Kind.READ:
                    enqueue_execution(action.pk, quick=connector_for(action).in_database)
            else:
                webhooks.schedule(action, now=now)
                live.publish_activity(action.pk, _with_relations(action, record))
        return answer
    except BaseException:
        if counted:
            *args, moment = counted
            limits.refund(*args, now=moment)
        raise


def _escalate(action: ActionRequest, record, ledger_data: dict, route: str) -> GatewayAnswer:
    """Insert an action that needs approval with its decision, its escalation and their
    ledger entries, as one statement (autonomy.core.statements); then announce it to the inbox."""
    escalation, opened = inbox.planned_approval(action, record, route, now=action.created_at)
    answer = _answer(action, "require_approval", record, escalation)
    action.response_status, action.response_body = answer.status, answer.body
    entry = _action_entry(action, ledger_data, escalation)
    insert_together(record, action, escalation, opened, entry)
    inbox.announce(escalation, activity=_with_relations(action, record))
    return answer


def _with_relations(action: ActionRequest, record) -> ActionRequest:
    """`action` with what its activity row shows, all in memory already."""
    action.business_unit = action.agent.business_unit
    action.decision = record
    return action


def _action_entry(action: ActionRequest, ledger_data: dict, escalation) -> AuditEntry:
    """The ledger entry of the gateway's answer (`action.<state>`), with the decision."""
    return ledger.entry(
        f"action.{action.state}",
        ledger.Actor.for_agent(action.agent),
        **action.ledger_fields(),
        data={
            **ledger_data,
            "idempotency_key": action.idempotency_key,
            "escalation_id": str(escalation.pk) if escalation else None,
        },
    )


def _answer(action: ActionRequest, effect: str, record, escalation) -> GatewayAnswer:
    decision = {
        "id": str(record.pk),
        "effect": effect,
        "reasons": record.reasons,
        "matched": record.matched,
        "route": record.route,
    }
    base = {
        "id": str(action.pk),
        "action": action.action_type.name,
        "state": action.state,
        "shadow": action.shadow,
        "decision": decision,
        "links": {"self": f"/api/v1/actions/{action.pk}/"},
    }
    if effect == "allow":
        return GatewayAnswer(201, base)
    if effect == "require_approval":
        due = escalation.sla_due_at.isoformat() if escalation else None
        return GatewayAnswer(
            202,
            {
                **base,
                "escalation_id": str(escalation.pk) if escalation else None,
                "sla_due_at": due,
            },
        )
    retry_after = _rate_limited(record.matched)
    if retry_after is not None:
        answer = _error(
            429,
            "rate_limited",
            "; ".join(record.reasons) or "Over a rate limit.",
            action_id=str(action.pk),
            decision=decision,
            retry_after=retry_after,
        )
        return GatewayAnswer(answer.status, answer.body, {"Retry-After": str(retry_after)})
    return _error(
        403,
        "denied",
        "; ".join(record.reasons) or "Denied by policy.",
        action_id=str(action.pk),
        decision=decision,
    )
