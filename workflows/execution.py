"""Executing an allowed or approved action exactly once through its connector.

`execute()`, in one transaction (one commit) for steps 1 and 2:
1. locks the agent's row (the inbox's lock order: a suspension waits or is seen), then
   claims the action with a conditional UPDATE (queued and due → executing, `claimed_at`
   set) and stops if another worker got there first; `claimed_at` is this run's token;
2. re-checks that the agent is active (else cancelled), and for approved actions that the
   payload and policy versions are the ones the approver saw (else failed and
   escalated); refuses a disabled connector; writes the ConnectorAttempt (started);
3. calls the connector outside any transaction;
4. in one transaction: completes the attempt and settles the action with its ledger
   entry, the live push, any escalation and the agent's callback:
   success → succeeded; temporary error → queued again with exponential backoff, until
   the connector's max attempts, then failed; permanent error → failed (and the connector
   disabled if it says so); unknown outcome → needs_reconciliation, never retried.
   A read (one approved by a person; allowed reads run within the request, see
   workflows.reads) keeps only what its agent may see (workflows.clearance).

`sweep()` repairs what dead workers leave (see its docstring). Secrets never reach the
attempt rows, the action's error or the ledger: their values are blanked out of whatever a
system of record echoes back.
"""

import logging
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Agent, AgentState
from governance import ledger
from governance.models import PolicyVersion
from governance.redaction import fingerprint
from workflows import clearance, inbox, live, webhooks
from workflows.connectors import BaseConnector, ConnectorError, Result, connector_for
from workflows.dispatch import enqueue_execution
from workflows.models import ActionRequest, ActionState, ActionType, Connector, ConnectorAttempt

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "STALE_CLAIM",
    "STALE_QUEUE",
    "approval_problem",
    "backoff_seconds",
    "execute",
    "scrub",
    "start_attempt",
    "sweep",
]

logger = logging.getLogger(__name__)

EXECUTOR = ledger.Actor.system("executor")
SWEEPER = ledger.Actor.system("sweeper")
BACKOFF_BASE_SECONDS = 5
BACKOFF_MAX_SECONDS = 600
# The sandbox has no Connector row to say how often to retry.
DEFAULT_MAX_ATTEMPTS = 5
# Executing this long after its claim with no attempt started: the worker died first.
STALE_CLAIM = timedelta(seconds=60)
# Queued and due this long ago: its task was lost (or is far behind); enqueue it again.
STALE_QUEUE = timedelta(seconds=60)
# A call still unfinished this long past its connector's own time budget: the worker died.
CALL_MARGIN = timedelta(seconds=30)
SWEEP_BATCH = 500
# Settled states the agent hears about by callback (denials and rejections are told by
# the gateway and the inbox).
NOTIFIED = frozenset(
    {
        ActionState.SUCCEEDED,
        ActionState.FAILED,
        ActionState.CANCELLED,
        ActionState.NEEDS_RECONCILIATION,
    }
)
Outcome = ConnectorAttempt.Outcome
# With the action: what executing it, its ledger entries and its activity row need.
RELATED = (
    "agent",
    "action_type__connector",
    "action_type__approval_queue",
    "business_unit",
    "decision",
)


def backoff_seconds(attempt: int) -> int:
    """The wait after the `attempt`-th temporary failure: 5 s, doubling, at most 10 min."""
    return min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempt - 1))


def _secret_values(value) -> list[str]:
    if isinstance(value, dict):
        return [s for item in value.values() for s in _secret_values(item)]
    if isinstance(value, list):
        return [s for item in value for s in _secret_values(item)]
    return [value] if isinstance(value, str) and len(value) >= 4 else []


def scrub(value, secrets: dict):
    """`value` (text, or JSON such as a parsed response) with every secret value of the
    connector blanked out of its strings: a system of record may echo what it was sent."""
    if isinstance(value, dict):
        return {key: scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [scrub(item, secrets) for item in value]
    if not isinstance(value, str):
        return value
    for secret in sorted(_secret_values(secrets), key=len, reverse=True):
        value = value.replace(secret, "[secret]")
    return value


def approval_problem(action: ActionRequest) -> str:
    """Why an approved action may no longer run ("" when it may, or was never approved):
    its payload must hash to what the approver saw, and the policy versions it was decided
    under must still be the published versions of their policies."""
    if action.approved_at is None:
        return ""
    if fingerprint(action.payload) != action.approved_payload_hash:
        return "Not executed: the payload changed since approval."
    approved = {str(v) for v in action.approved_policy_version_ids}
    known = [int(v) for v in approved if v.isdigit()]
    policies = PolicyVersion.objects.filter(pk__in=known).values("policy_id")
    published = PolicyVersion.objects.filter(
        policy_id__in=policies, state=PolicyVersion.State.PUBLISHED
    ).values_list("pk", flat=True)
    if {str(pk) for pk in published} != approved:
        return "Not executed: policy changed since approval; the action must be decided again."
    return ""


def _record(verb: str, action: ActionRequest, actor=EXECUTOR, **data) -> None:
    ledger.record(
        verb,
        actor,
        object_type="workflows.actionrequest",
        object_id=str(action.pk),
        object_repr=f"{action.agent.slug} {action.action_type.name}"[:200],
        business_unit_id=action.business_unit_id,
        data={"action": action.action_type.name, "agent": action.agent.slug, **data},
    )


def _settle(
    action: ActionRequest,
    state: str,
    verb: str,
    *,
    error: str = "",
    result=None,
    escalate: str = "",
    actor=EXECUTOR,
    **data,
) -> str:
    """Give the (locked) action its final state with the ledger entry, the live push, an
    escalation of kind `escalate` if given, and the agent's callback."""
    now = timezone.now()
    action.state, action.error, action.completed_at, action.next_attempt_at = (
        state,
        error,
        now,
        None,
    )
    fields = ["state", "error", "completed_at", "next_attempt_at"]
    if result is not None:
        action.result = result
        fields.append("result")
    action.save(update_fields=fields)
    _record(verb, action, actor, state=state, error=error, **data)
    if escalate:
        inbox.escalate_failure(action, escalate, error)
    if state in NOTIFIED:
        webhooks.schedule(action, now=now)
    live.publish_activity(action.pk, action)
    return state


def _claimed(action_id, token: datetime):
    """The action's row while it is still executing under this run's claim."""
    return ActionRequest.objects.filter(
        pk=action_id, state=ActionState.EXECUTING, claimed_at=token
    ).order_by()  # no ORDER BY/LIMIT: PostgreSQL plans the joined lookup far faster


def _locked(action_id, token: datetime, agent: Agent) -> ActionRequest | None:
    """The action with what executing it needs, locked, if it is still executing under
    this run's claim (its agent's row, already locked by the caller, is not read again)."""
    related = [name for name in RELATED if name != "agent"]
    locked = _claimed(action_id, token).select_for_update(of=("self",)).select_related(*related)
    action = next(iter(locked), None)
    if action is not None:
        action.agent = agent
    return action


def _still_claimed(action_id, token: datetime) -> bool:
    """Lock the action's row (nothing joined) if it is still executing under this claim."""
    return bool(list(_claimed(action_id, token).select_for_update().values_list("pk", flat=True)))


def start_attempt(action: ActionRequest, connector: BaseConnector) -> ConnectorAttempt:
    """Count the attempt on the (locked) action and record it as started, before the call;
    its idempotency key is the action's id."""
    action.attempt_count += 1
    action.save(update_fields=["attempt_count"])
    return ConnectorAttempt.objects.create(
        action=action,
        connector=connector.row,
        number=action.attempt_count,
        idempotency_key=str(action.pk),
        started_at=timezone.now(),
        target=connector.describe(),
    )


def _claim_and_prepare(action_id, token: datetime):
    """The claim, the checks before the call and the attempt row, committed together
    before the call. Returns (action, connector, attempt), or the state the action was
    settled in without a call ("" when another worker claimed it, or it is not queued or
    not due)."""
    with transaction.atomic():
        # The agent first (the lock order of the inbox), found through the action in the
        # same statement: a suspension committing now is either waited for and seen, or
        # waits for this attempt to be recorded.
        action_agent = ActionRequest.objects.filter(pk=action_id).values("agent_id")[:1]
        agent = (
            Agent.objects.select_for_update(no_key=True)
            .filter(pk=Subquery(action_agent))
            .order_by()
            .first()
        )
        if agent is None:
            return ""
        due = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=token)
        claimed = ActionRequest.objects.filter(due, pk=action_id, state=ActionState.QUEUED).update(
            state=ActionState.EXECUTING, claimed_at=token
        )
        if claimed != 1:
            return ""
        action = _locked(action_id, token, agent)
        if action is None:
            return ""
        if agent.state != AgentState.ACTIVE:
            return _settle(
                action,
                ActionState.CANCELLED,
                "action.cancelled",
                error=f"Not executed: agent {agent.slug} is {agent.get_state_display().lower()}.",
                reason="agent not active",
            )
        problem = approval_problem(action)
        if problem:
            return _settle(
                action, ActionState.FAILED, "action.failed", error=problem, escalate="failure"
            )
        connector = connector_for(action)
        row = connector.row
        if row is not None and not row.enabled:
            reason = f": {row.disabled_reason}" if row.disabled_reason else ""
            return _settle(
                action,
                ActionState.FAILED,
                "action.failed",
                error=f"Not executed: connector {row.name} is disabled{reason}",
                escalate="failure",
                connector=row.slug,
            )
        attempt = start_attempt(action, connector)
    return action, connector, attempt


def execute(action_id, *, now: datetime | None = None) -> str:
    """Execute one queued, due action if this call wins its claim (see the module
    docstring). Returns the action's state afterwards, or "" when there was nothing to
    do (claimed by another worker, not queued, or not due yet)."""
    token = now or timezone.now()
    prepared = _claim_and_prepare(action_id, token)
    if isinstance(prepared, str):
        return prepared
    action, connector, attempt = prepared
    result: Result | None = None
    error: ConnectorError | None = None
    try:
        result = connector.execute(action, action.payload, str(action.pk))
    except ConnectorError as exc:
        error = exc
    except Exception as exc:
        # A fault inside the connector: it may have sent something, so no blind retry.
        logger.exception("Connector %s failed on action %s", connector.kind, action.pk)
        error = ConnectorError(
            f"The connector failed unexpectedly: {type(exc).__name__}.", unknown_outcome=True
        )
    if result is not None and action.action_type.kind == ActionType.Kind.READ:
        # Only what the agent may see of a read is kept, on the action and its attempt.
        result = clearance.read_result(action, result)
    return _complete(action, token, attempt.pk, connector, result, error)


def _outcome(error: ConnectorError | None) -> str:
    if error is None:
        return Outcome.SUCCEEDED
    if error.unknown_outcome:
        return Outcome.UNKNOWN
    return Outcome.PERMANENT_ERROR if error.permanent else Outcome.TEMPORARY_ERROR


def _disable(row: Connector, message: str) -> None:
    row = Connector.objects.select_for_update().get(pk=row.pk)
    if not row.enabled:
        return
    row.enabled = False
    row.disabled_reason = f"Disabled after a permanent error: {message}"[:1000]
    row.save(update_fields=["enabled", "disabled_reason"])
    ledger.record(
        "connector.disabled", EXECUTOR, row, data={"reason": row.disabled_reason, "via": "executor"}
    )


def _complete(
    prepared: ActionRequest,
    token: datetime,
    attempt_id: int,
    connector: BaseConnector,
    result: Result | None,
    error: ConnectorError | None,
) -> str:
    outcome = _outcome(error)
    message = scrub(error.message, connector.secrets) if error else ""
    answer = result if result is not None else error
    with transaction.atomic():
        ConnectorAttempt.objects.filter(pk=attempt_id).update(
            outcome=outcome,
            finished_at=timezone.now(),
            status_code=answer.status_code,
            error=message,
            response_excerpt=scrub(answer.excerpt, connector.secrets),
        )
        if not _still_claimed(prepared.pk, token):
            # The sweeper took this call for lost (it outlived its budget) and handed the
            # action to a person; the attempt row now tells them what really happened.
            action = ActionRequest.objects.select_related(*RELATED).get(pk=prepared.pk)
            _record("action.late_outcome", action, attempt_id=attempt_id, outcome=outcome)
            return action.state
        # Only this claim's holder changes an executing action: the row read before the
        # call is still the row, now locked.
        action = prepared
        facts = {
            "attempt": action.attempt_count,
            "connector": connector.row.slug if connector.row is not None else connector.kind,
            "target": connector.describe(),
            "status_code": answer.status_code,
            "shadow": action.shadow,
        }
        if error is None:
            # A read's entry names the record and the fields returned and withheld.
            read = isinstance(result, clearance.ReadResult)
            return _settle(
                action,
                ActionState.SUCCEEDED,
                "action.read" if read else "action.executed",
                result=scrub(result.data, connector.secrets),
                **facts,
                **(result.facts if read else {}),
            )
        if error.unknown_outcome:
            return _settle(
                action,
                ActionState.NEEDS_RECONCILIATION,
                "action.needs_reconciliation",
                error=f"Outcome unknown, not retried: {message}",
                escalate="reconciliation",
                **facts,
            )
        row = connector.row
        if error.permanent:
            if row is not None and row.disable_on_permanent_error:
                _disable(row, message)
            return _settle(
                action,
                ActionState.FAILED,
                "action.failed",
                error=message,
                escalate="failure",
                **facts,
            )
        max_attempts = row.max_attempts if row is not None else DEFAULT_MAX_ATTEMPTS
        if action.attempt_count >= max_attempts:
            return _settle(
                action,
                ActionState.FAILED,
                "action.failed",
                error=f"Gave up after {action.attempt_count} attempts: {message}",
                escalate="failure",
                **facts,
            )
        return _retry_later(action, message, facts)


def _retry_later(action: ActionRequest, message: str, facts: dict) -> str:
    due = timezone.now() + timedelta(seconds=backoff_seconds(action.attempt_count))
    action.state, action.error, action.next_attempt_at = ActionState.QUEUED, message, due
    action.save(update_fields=["state", "error", "next_attempt_at"])
    _record(
        "action.retry_scheduled", action, error=message, next_attempt_at=due.isoformat(), **facts
    )
    live.publish_activity(action.pk)
    from workflows.tasks import execute_action

    transaction.on_commit(lambda: execute_action.apply_async((str(action.pk),), eta=due))
    return ActionState.QUEUED


def _repair(action_id, now: datetime) -> str:
    """One executing action abandoned by its worker: back to the queue if its call never
    started, to a person if it started and never finished."""
    with transaction.atomic():
        action = (
            ActionRequest.objects.select_for_update(of=("self",))
            .select_related(*RELATED)
            .filter(pk=action_id, state=ActionState.EXECUTING)
            .first()
        )
        if action is None:
            return ""
        attempt = action.attempts.filter(outcome=Outcome.STARTED).order_by("-number").first()
        if attempt is None:
            if action.claimed_at is None or action.claimed_at > now - STALE_CLAIM:
                return ""
            action.state = ActionState.QUEUED
            action.save(update_fields=["state"])
            _record("action.requeued", action, SWEEPER, reason="worker stopped before the call")
            enqueue_execution(action.pk)
            return "requeued"
        budget = timedelta(seconds=connector_for(action).call_budget_seconds())
        if attempt.started_at > now - budget - CALL_MARGIN:
            return ""
        attempt.outcome = Outcome.UNKNOWN
        attempt.finished_at = now
        attempt.error = "The worker stopped during the call; its outcome was never recorded."
        attempt.save(update_fields=["outcome", "finished_at", "error"])
        return _settle(
            action,
            ActionState.NEEDS_RECONCILIATION,
            "action.needs_reconciliation",
            error="Outcome unknown, not retried: the worker stopped during the call.",
            escalate="reconciliation",
            actor=SWEEPER,
            attempt=attempt.number,
        )


def sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Repair what dead workers and lost messages leave behind (each action in its own
    transaction, re-checked under its lock, so overlapping sweeps are harmless):
    executing with no call started for STALE_CLAIM → queued again; executing with a call
    started and unfinished past its connector's budget → needs_reconciliation and a
    person; queued and due for STALE_QUEUE → enqueued again (the claim makes a duplicate
    message harmless). Returns how many of each."""
    now = now or timezone.now()
    done = {"requeued": 0, "reconciliation": 0, "reenqueued": 0}
    executing = ActionRequest.objects.filter(
        state=ActionState.EXECUTING, claimed_at__lte=now - CALL_MARGIN
    ).order_by("claimed_at")
    for action_id in executing.values_list("pk", flat=True)[:SWEEP_BATCH]:
        outcome = _repair(action_id, now)
        if outcome == "requeued":
            done["requeued"] += 1
        elif outcome:
            done["reconciliation"] += 1
    stale = (
        ActionRequest.objects.filter(state=ActionState.QUEUED)
        .alias(due=Coalesce("next_attempt_at", "queued_at", "created_at"))
        .filter(due__lte=now - STALE_QUEUE)
        .order_by("due")
    )
    for action_id in stale.values_list("pk", flat=True)[:SWEEP_BATCH]:
        enqueue_execution(action_id)
        done["reenqueued"] += 1
    return done
