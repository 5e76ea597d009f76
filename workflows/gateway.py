"""The action gateway: one governed action from an agent's request to its first answer.

`submit()` checks the payload against the action type's schema, decides the action
(kill switches, limits, policy), and writes the action request, its decision record, the
ledger entries and any escalation together, as one statement on PostgreSQL
(workflows.statements.record_governed_action); execution is enqueued and the inbox told
only after commit.
`(agent, Idempotency-Key)` is unique: a replay returns the first answer, the same key with
another body is refused, and a key still in flight is 409.
"""

from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from agents.models import Agent, AgentState
from governance import ledger, limits, policies
from governance.models import AuditEntry, DecisionRecord
from governance.pdp import Decision, Effect
from governance.redaction import fingerprint
from workflows import catalog, decisions, inbox, live, reads, statements, webhooks
from workflows.connectors import connector_for
from workflows.dispatch import enqueue_execution
from workflows.models import ActionRequest, ActionState, ActionType
from workflows.serializers import GatewayAnswer, error, refused, submitted

__all__ = ["submit"]


def _replay(existing: ActionRequest, request_hash: str) -> GatewayAnswer:
    if existing.request_hash != request_hash:
        return error(
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
        return error(409, "in_flight", "A request with this Idempotency-Key is still running.")
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
        return error(423, "agent_suspended", f"Agent {agent.slug} is suspended.")
    action_type = catalog.action_type_named(body["action"])
    if action_type is None:
        return _replay_if_known(agent, idempotency_key, request_hash) or error(
            422,
            "unknown_action",
            f"No action type {body['action']!r} is registered.",
            {"action": ["Unknown action type."]},
        )
    payload = body.get("payload", {})
    errors = action_type.payload_errors(payload)
    if errors:
        return _replay_if_known(agent, idempotency_key, request_hash) or error(
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
    """Decide a new action, counted against its limits, and record it with its answer.
    The count is refunded when the action is denied, or not recorded (an error)."""
    question = decisions.ask(
        agent,
        action_type.name,
        body.get("payload", {}),
        action_type=action_type,
        reported=body.get("reported") or {},
        now=now,
    )
    with decisions.counted(question) as counting:
        outcome = decisions.decide(question, counting, source=DecisionRecord.Source.GATEWAY)
        decisions.suspend_at_hard_limit(question, outcome.decision)
        if outcome.decision.effect == Effect.DENY:
            counting.refund()  # a denied action consumes no budget; its attempt still counts
        action, verb = _new_action(agent, action_type, idempotency_key, request_hash, body, outcome)
        if action.state == ActionState.PENDING_APPROVAL:
            return _escalate(action, outcome, verb)
        if action.state == ActionState.QUEUED:
            return _queue(action, outcome, verb)
        return _deny(action, outcome, verb)


def _new_action(
    agent, action_type, idempotency_key, request_hash, body, outcome: decisions.Outcome
) -> tuple[ActionRequest, str]:
    """The action request as its decision left it, and the verb of its ledger entry."""
    record = outcome.record
    action = ActionRequest(
        agent=agent,
        business_unit_id=agent.business_unit_id,
        action_type=action_type,
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        payload=body.get("payload", {}),
        payload_hash=record.payload_hash,
        reason=body.get("reason", ""),
        data_used=body.get("data_used") or [],
        task_ref=str(body.get("task") or ""),
        callback_url=body.get("callback_url") or "",
        decision=record,
        policy_version_ids=record.policy_version_ids,
        shadow=outcome.decision.shadow,
        created_at=record.created_at,
    )
    return action, action.take_decision(outcome.decision.effect, record.created_at)


def _answered(action: ActionRequest, answer: GatewayAnswer) -> GatewayAnswer:
    """Keep the first answer on the action, for replays."""
    action.response_status, action.response_body = answer.status, answer.body
    return answer


def _queue(action: ActionRequest, outcome: decisions.Outcome, verb: str) -> GatewayAnswer:
    """Insert an allowed action with its decision and ledger entry, as one statement (one
    round trip and its own commit, workflows.statements), and enqueue its execution. The
    executor pushes its row to the feed when it runs, moments from now: one push per
    action instead of two on the hot path. An allowed read is not enqueued: submit() runs it once
    this commits."""
    answer = _answered(action, submitted(action))
    entry = _action_entry(action, verb, outcome.ledger_data)
    statements.record_governed_action(outcome.record, action, entry)
    if action.action_type.kind != ActionType.Kind.READ:
        enqueue_execution(action.pk, quick=connector_for(action).in_database)
    return answer


def _deny(action: ActionRequest, outcome: decisions.Outcome, verb: str) -> GatewayAnswer:
    """Insert a denied action with its decision and ledger entry (and its callback, in the
    same transaction), then push it to the activity feed."""
    answer = _answered(action, refused(action, _rate_limited(outcome.decision)))
    entry = _action_entry(action, verb, outcome.ledger_data)
    with transaction.atomic() if action.callback_url else nullcontext():
        statements.record_governed_action(outcome.record, action, entry)
        webhooks.schedule(action, now=action.created_at)
        live.publish_activity(action.pk, _with_relations(action, outcome.record))
    return answer


def _escalate(action: ActionRequest, outcome: decisions.Outcome, verb: str) -> GatewayAnswer:
    """Insert an action that needs approval with its decision, its escalation and their
    ledger entries, as one statement (workflows.statements); then announce it to the inbox."""
    record = outcome.record
    route = outcome.decision.route or ""
    escalation, opened = inbox.planned_approval(action, record, route, now=action.created_at)
    answer = _answered(action, submitted(action, escalation))
    entry = _action_entry(action, verb, outcome.ledger_data, escalation)
    statements.record_governed_action(record, action, escalation, opened, entry)
    inbox.announce(escalation, activity=_with_relations(action, record))
    return answer


def _rate_limited(decision: Decision) -> int | None:
    """Seconds until retry when an exceeded hard "actions" limit denied the action."""
    specs = {str(spec.rule_id): spec for spec in policies.current_limit_specs()}
    for matched in decision.matched:
        if not matched.over_hard_limit():
            continue
        spec = specs.get(str(matched.limit.rule_id))  # type: ignore[union-attr]
        if spec is not None and spec.metric == "actions":
            window = limits.WINDOW_SECONDS[spec.window]
            now = timezone.now().timestamp()
            return max(1, int(window - now % window))
    return None


def _with_relations(action: ActionRequest, record) -> ActionRequest:
    """`action` with what its activity row shows, all in memory already."""
    action.business_unit = action.agent.business_unit
    action.decision = record
    return action


def _action_entry(
    action: ActionRequest, verb: str, ledger_data: dict, escalation=None
) -> AuditEntry:
    """The ledger entry of the gateway's answer (`action.<state>`), with the decision."""
    return ledger.entry(
        verb,
        ledger.Actor.for_agent(action.agent),
        **action.ledger_fields(),
        data={
            **ledger_data,
            "idempotency_key": action.idempotency_key,
            "escalation_id": str(escalation.pk) if escalation else None,
        },
    )
