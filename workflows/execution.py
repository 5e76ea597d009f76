"""Executing an allowed or approved action exactly once through its connector.

`execute()`, in one transaction (one commit) for steps 1 and 2:
1. read-locks the action's agent's row (the inbox's lock order: a suspension waits or is
   seen), then claims the action with one conditional UPDATE … RETURNING (queued and due
   → executing, `claimed_at` set), which also locks and reads it; stops if another worker
   got there first; `claimed_at` is this run's token. Its action type and connector come
   from the catalogue's in-process copy (workflows.catalog), its agent from the lock;
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

A connector whose effect is a row of this database (`in_database`: the sandbox) is called
inside the claim's transaction and settled in it: claim, attempt, effect and outcome commit
together or not at all, so exactly once needs no second and third commit, and the attempt
is written once, with its outcome, in the statement that settles the action.

`execute_many()` takes one message's actions: those on an in-database connector are
claimed together (one statement locks their agents, one claims them), executed, and their
successes settled in one statement and one commit; the others are executed one by one by
`execute()`, each claimed just before its call, so a worker that dies midway leaves the
actions it has not called queued, not claimed. If the shared transaction fails, each
action is executed alone, so one bad action holds back no other.

`sweep()` repairs what dead workers leave (see its docstring). Secrets never reach the
attempt rows, the action's error or the ledger: their values are blanked out of whatever a
system of record echoes back.
"""

import logging
from datetime import datetime, timedelta

from django.db import DatabaseError, connection, transaction
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Agent, AgentState
from autonomy.core.statements import column_list, insert, select, update, write_together
from governance import epochs, ledger
from governance.models import AuditEntry, BusinessUnit, DecisionRecord, PolicyVersion
from governance.redaction import fingerprint
from workflows import catalog, clearance, inbox, live, webhooks
from workflows.connectors import (
    BaseConnector,
    ConnectorError,
    Result,
    connector_class_for,
    connector_for,
)
from workflows.dispatch import enqueue_execution
from workflows.models import ActionRequest, ActionState, ActionType, Connector, ConnectorAttempt

__all__ = [
    "BACKOFF_BASE_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "STALE_CLAIM",
    "STALE_QUEUE",
    "approval_problem",
    "backoff_seconds",
    "claim",
    "execute",
    "execute_many",
    "scrub",
    "start_attempt",
    "still_claimed",
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


# The executor's claim of the queued, due actions among some ids (see _claim_many), in
# the SQL PostgreSQL and SQLite share; {ids} is one placeholder per id, {columns} the
# action's columns (autonomy.core.statements.column_list: named, not `*`).
CLAIM_SQL = """
UPDATE "workflows_actionrequest" SET "state" = %s, "claimed_at" = %s
WHERE "id" IN ({ids}) AND "state" = %s
AND ("next_attempt_at" IS NULL OR "next_attempt_at" <= %s)
RETURNING {columns}, (
    SELECT d."effect" FROM "governance_decisionrecord" d
    WHERE d."id" = "workflows_actionrequest"."decision_id"
) AS "decision_effect"
"""


# The agent of each of some actions, with its unit's name and the action's id, action type
# and shadow flag, read-locked on PostgreSQL (see _agents_of); {ids} and {columns} (the
# agent's) as above.
AGENTS_SQL = """
SELECT {columns}, u."name" AS "business_unit_name", r."id" AS "action_id",
    r."action_type_id" AS "action_type_of_action", r."shadow" AS "action_is_shadow"
FROM "workflows_actionrequest" r
JOIN "agents_agent" a ON a."id" = r."agent_id"
JOIN "governance_businessunit" u ON u."id" = a."business_unit_id"
WHERE r."id" IN ({ids})
"""


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


def _entry(verb: str, action: ActionRequest, actor=EXECUTOR, **data) -> AuditEntry:
    """The (unsaved) ledger entry of `verb` on the action."""
    return ledger.entry(
        verb,
        actor,
        **action.ledger_fields(),
        data={"action": action.action_type.name, "agent": action.agent.slug, **data},
    )


def _record(verb: str, action: ActionRequest, actor=EXECUTOR, **data) -> None:
    insert(_entry(verb, action, actor, **data))


def _writes(action: ActionRequest, fields: list[str], completed) -> tuple[list, list]:
    """The updates and inserts that record a settled action (its `fields`) with the call's
    attempt, if any: the attempt's outcome as an update of its row, or, for an attempt
    never written (an in-database connector's, see _prepare), its whole row with
    the action's attempt count."""
    if completed is None:
        return [(action, fields)], []
    attempt, attempt_fields = completed
    if attempt._state.adding:
        return [(action, [*fields, "attempt_count"])], [attempt]
    return [(attempt, attempt_fields), (action, fields)], []


def _settle(
    action: ActionRequest,
    state: str,
    verb: str,
    *,
    error: str = "",
    result=None,
    escalate: str = "",
    actor=EXECUTOR,
    completed: tuple[ConnectorAttempt, tuple[str, ...]] | None = None,
    deferred: list | None = None,
    **data,
) -> str:
    """Give the (locked) action its final state with the ledger entry, the live push, an
    escalation of kind `escalate` if given, and the agent's callback. `completed`: an
    attempt and the fields _fill_attempt set on it, written in the same statement. With a
    `deferred` list and nothing to escalate, the rows are appended to it instead of
    written, with the action (the caller writes them before its transaction ends, and
    pushes the action's row, together with others)."""
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
    updates, inserts = _writes(action, fields, completed)
    entry = _entry(verb, action, actor, state=state, error=error, **data)
    if deferred is not None and not escalate:
        deferred.append((updates, [*inserts, entry], action))
    else:
        write_together(updates=updates, inserts=[*inserts, entry])
        if escalate:
            inbox.escalate_failure(action, escalate, error)
        live.publish_activity(action.pk, action)
    if state in NOTIFIED:
        webhooks.schedule(action, now=now)
    return state


def still_claimed(action_id, token: datetime) -> bool:
    """Lock the action's row (nothing joined) if it is still executing under this claim."""
    claimed = ActionRequest.objects.filter(
        pk=action_id, state=ActionState.EXECUTING, claimed_at=token
    ).select_for_update()
    return bool(list(claimed.order_by().values_list("pk", flat=True)))


def _new_attempt(action: ActionRequest, connector: BaseConnector) -> ConnectorAttempt:
    """Count the attempt on the (locked) action and build its row, started now and not yet
    saved; its idempotency key is the action's id."""
    action.attempt_count += 1
    return ConnectorAttempt(
        action=action,
        connector=connector.row,
        number=action.attempt_count,
        idempotency_key=str(action.pk),
        started_at=timezone.now(),
        target=connector.describe(),
    )


def start_attempt(action: ActionRequest, connector: BaseConnector) -> ConnectorAttempt:
    """Count the attempt on the (locked) action and record it as started, before the call;
    its idempotency key is the action's id."""
    attempt = _new_attempt(action, connector)
    write_together(updates=[(action, ["attempt_count"])], inserts=[attempt])
    return attempt


def _key(action_id) -> str:
    """An action's id as text, one spelling for every form it may come in."""
    return str(ActionRequest._meta.pk.to_python(action_id))


def _db_ids(action_ids) -> list:
    """Actions' ids as their database column holds them."""
    pk = ActionRequest._meta.pk
    return [pk.get_db_prep_value(pk.to_python(one), connection) for one in action_ids]


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


def _agents_of(action_ids) -> dict[str, Agent]:
    """The agent of each action (by the action's id as text), each its own instance, with
    its business unit's name, locked FOR SHARE on PostgreSQL: a suspension (which locks
    the agent FOR UPDATE, then cancels its queued actions) either commits first and is
    seen, or waits until this execution has committed, while executions of the same
    agent's actions do not wait for one another. Each also carries its action's
    `action_type_of_action` and `action_is_shadow` (see _in_database)."""
    ids = _db_ids(action_ids)
    sql = AGENTS_SQL.format(ids=_placeholders(len(ids)), columns=column_list(Agent, "a"))
    if connection.vendor == "postgresql":
        sql += " FOR SHARE OF a"
    agents = {}
    for agent in select(Agent, sql, ids):
        agent.business_unit = BusinessUnit.from_db(
            connection.alias, ["id", "name"], [agent.business_unit_id, agent.business_unit_name]
        )
        agents[_key(agent.action_id)] = agent
    return agents


def _claim_many(action_ids, token: datetime) -> list[ActionRequest]:
    """Claim for this run those of the actions that are queued and due (→ executing,
    `claimed_at` = token) and return them, locked by the UPDATE, each with its decision's
    effect (what its activity row shows); not those another worker got first. One
    statement: UPDATE … RETURNING (PostgreSQL and SQLite alike)."""
    ids = _db_ids(action_ids)
    claimed = select(
        ActionRequest,
        CLAIM_SQL.format(ids=_placeholders(len(ids)), columns=column_list(ActionRequest)),
        [ActionState.EXECUTING, token, *ids, ActionState.QUEUED, token],
    )
    for action in claimed:
        if action.decision_id is not None:
            action.decision = DecisionRecord.from_db(
                connection.alias, ["id", "effect"], [action.decision_id, action.decision_effect]
            )
    return claimed


def _with_relations(action: ActionRequest, agent: Agent) -> ActionRequest:
    """Attach what executing the action needs without reading it again: its (locked)
    agent, the agent's business unit when it is the action's, its action type and
    connector from the catalogue."""
    action.agent = agent
    if action.business_unit_id == agent.business_unit_id:
        action.business_unit = agent.business_unit
    action_type = catalog.action_type_with_id(action.action_type_id)
    if action_type is not None:
        action.action_type = action_type
    return action


def _in_database(agent: Agent) -> bool:
    """Whether the action `agent` was locked for (see _agents_of) runs on a connector whose
    effect is a row of this database (the sandbox), by the catalogue."""
    action_type = catalog.action_type_with_id(agent.action_type_of_action)
    if action_type is None:
        return False
    return connector_class_for(action_type, agent.action_is_shadow).in_database


def _claim_locked(agents: dict[str, Agent], token: datetime) -> list[ActionRequest]:
    """Claim those of the actions of `agents` (locked by _agents_of) that are queued and
    due (see _claim_many), with their agent, unit, decision and action type attached."""
    if not agents:
        return []
    claimed = _claim_many(list(agents), token)
    return [_with_relations(action, agents[str(action.pk)]) for action in claimed]


def claim(action_id, token: datetime) -> ActionRequest | None:
    """In the caller's transaction: read-lock the action's agent (the lock order of the
    inbox, see _agents_of), then claim the action for this run if it is queued and due
    (see _claim_many). Returns it with its agent, unit, decision and action type attached,
    or None when there is nothing to claim."""
    return next(iter(_claim_locked(_agents_of([action_id]), token)), None)


def _prepare(action: ActionRequest):
    """The checks before the call and the attempt (written as started unless the connector
    is in the database), in the claim's transaction. Returns (action, connector, attempt),
    or the state the action was settled in without a call."""
    agent = action.agent
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
    if connector.in_database:
        # Called and settled in this transaction (see execute()): nothing of the attempt can
        # be seen before its outcome, so its row is written once, with the outcome.
        return action, connector, _new_attempt(action, connector)
    return action, connector, start_attempt(action, connector)


def _call(action: ActionRequest, connector: BaseConnector):
    """The connector's (result, error) for the action: exactly one of them is None."""
    try:
        result = connector.execute(action, action.payload, str(action.pk))
    except ConnectorError as exc:
        return None, exc
    except Exception as exc:
        if connector.in_database and isinstance(exc, DatabaseError):
            # Its effect is rolled back with the claim: nothing happened, nothing to
            # reconcile, and the action stays queued.
            raise
        # A fault inside the connector: it may have sent something, so no blind retry.
        logger.exception("Connector %s failed on action %s", connector.kind, action.pk)
        return None, ConnectorError(
            f"The connector failed unexpectedly: {type(exc).__name__}.", unknown_outcome=True
        )
    if action.action_type.kind == ActionType.Kind.READ:
        # Only what the agent may see of a read is kept, on the action and its attempt.
        result = clearance.read_result(action, result)
    return result, None


def execute(action_id, *, now: datetime | None = None) -> str:
    """Execute one queued, due action if this call wins its claim (see the module
    docstring). Returns the action's state afterwards, or "" when there was nothing to
    do (claimed by another worker, not queued, or not due yet)."""
    token = now or timezone.now()
    with transaction.atomic():
        action = claim(action_id, token)
        if action is None:
            return ""
        prepared = _prepare(action)
        if isinstance(prepared, str):
            return prepared
        action, connector, attempt = prepared
        if connector.in_database:
            # Its effect commits with the claim and the outcome, or not at all.
            return _finish(action, connector, attempt, *_call(action, connector))
    return _call_and_finish(action, connector, attempt, token)


def execute_many(action_ids, *, now: datetime | None = None) -> list[str]:
    """Execute several queued actions (one message's); returns each one's state afterwards,
    in the order given ("" where there was nothing to do). Those whose connector writes
    to this database are claimed, executed and settled together (see _run_in_database);
    each of the others is executed alone afterwards, claimed just before its call as
    `execute()` claims it. If the shared transaction fails, every action is executed alone:
    an action that cannot be executed does not hold back the others (it stays queued, and
    the error is logged)."""
    ids = [_key(action_id) for action_id in action_ids]
    if len(ids) == 1:
        return [execute(ids[0], now=now)]
    token = now or timezone.now()
    try:
        # Claimed together, they are executed as of one moment: one reading of the epochs.
        with epochs.snapshot():
            states, others = _run_in_database(ids, token)
    except Exception:
        logger.exception("Executing actions %s together failed; executing each alone", ids)
        others, states = ids, {}
    for action_id in others:
        try:
            states[action_id] = execute(action_id, now=token)
        except Exception:
            logger.exception("Could not execute action %s; it stays as it was", action_id)
    return [states.get(action_id, "") for action_id in ids]


def _run_in_database(ids: list[str], token: datetime) -> tuple[dict[str, str], list[str]]:
    """In one transaction: lock the actions' agents, claim the actions whose connector
    writes to this database, check each, execute and settle them (each one's effect
    commits with its claim and its outcome, or not at all; their settling rows are written
    together, in one statement on PostgreSQL). Returns the states settled by action id,
    and the ids of the other actions, left unclaimed."""
    states, deferred = {}, []
    with transaction.atomic():
        agents = _agents_of(ids)
        here = {action_id: agent for action_id, agent in agents.items() if _in_database(agent)}
        for action in _claim_locked(here, token):
            prepared = _prepare(action)
            if isinstance(prepared, str):
                states[str(action.pk)] = prepared
                continue
            action, connector, attempt = prepared
            result, error = _call(action, connector)
            states[str(action.pk)] = _finish(
                action, connector, attempt, result, error, deferred=deferred
            )
        if deferred:
            write_together(
                updates=[row for updates, _, _ in deferred for row in updates],
                inserts=[row for _, inserts, _ in deferred for row in inserts],
            )
            live.publish_activities([action for _, _, action in deferred])
    return states, [action_id for action_id in ids if action_id in agents and action_id not in here]


def _call_and_finish(
    action: ActionRequest, connector: BaseConnector, attempt: ConnectorAttempt, token: datetime
) -> str:
    """Call a connector outside the database (its attempt committed as started) outside any
    transaction, then settle the action if this run still holds its claim."""
    result, error = _call(action, connector)
    with transaction.atomic():
        if not still_claimed(action.pk, token):
            # The sweeper took this call for lost (it outlived its budget) and handed the
            # action to a person; the attempt row now tells them what really happened.
            _complete_attempt(attempt, connector, result, error)
            late = ActionRequest.objects.select_related(*RELATED).get(pk=action.pk)
            _record("action.late_outcome", late, attempt_id=attempt.pk, outcome=attempt.outcome)
            return late.state
        # Only this claim's holder changes an executing action: the row read before the
        # call is still the row, now locked.
        return _finish(action, connector, attempt, result, error)


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


ATTEMPT_OUTCOME = ("outcome", "finished_at", "status_code", "error", "response_excerpt")


def _fill_attempt(
    attempt: ConnectorAttempt,
    connector: BaseConnector,
    result: Result | None,
    error: ConnectorError | None,
) -> tuple[ConnectorAttempt, tuple[str, ...]]:
    """Set the call's outcome on its attempt (secrets blanked out), unsaved; the attempt
    and the fields to write."""
    answer = result if result is not None else error
    attempt.outcome = _outcome(error)
    attempt.finished_at = timezone.now()
    attempt.status_code = answer.status_code
    attempt.error = scrub(error.message, connector.secrets) if error else ""
    attempt.response_excerpt = scrub(answer.excerpt, connector.secrets)
    return attempt, ATTEMPT_OUTCOME


def _complete_attempt(
    attempt: ConnectorAttempt,
    connector: BaseConnector,
    result: Result | None,
    error: ConnectorError | None,
) -> None:
    """Record the call's outcome on its attempt row (secrets blanked out)."""
    update(*_fill_attempt(attempt, connector, result, error))


def _finish(
    action: ActionRequest,
    connector: BaseConnector,
    attempt: ConnectorAttempt,
    result: Result | None,
    error: ConnectorError | None,
    *,
    deferred: list | None = None,
) -> str:
    """Complete the attempt and settle the action (still claimed by this run, locked) by
    the call's outcome (see the module docstring, step 4). The attempt's outcome is
    written in the same statement as the action's state and its ledger entry (a success's
    appended to `deferred` when given, see _settle)."""
    completed = _fill_attempt(attempt, connector, result, error)
    message = attempt.error
    facts = {
        "attempt": action.attempt_count,
        "connector": connector.row.slug if connector.row is not None else connector.kind,
        "target": connector.describe(),
        "status_code": attempt.status_code,
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
            completed=completed,
            deferred=deferred,
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
            completed=completed,
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
            completed=completed,
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
            completed=completed,
            **facts,
        )
    return _retry_later(action, message, facts, completed)


def _retry_later(action: ActionRequest, message: str, facts: dict, completed) -> str:
    due = timezone.now() + timedelta(seconds=backoff_seconds(action.attempt_count))
    action.state, action.error, action.next_attempt_at = ActionState.QUEUED, message, due
    entry = _entry(
        "action.retry_scheduled", action, error=message, next_attempt_at=due.isoformat(), **facts
    )
    updates, inserts = _writes(action, ["state", "error", "next_attempt_at"], completed)
    write_together(updates=updates, inserts=[*inserts, entry])
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
