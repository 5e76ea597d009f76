"""Governed reads: an allowed read runs within the agent's request and answers its data.

The gateway decides and records a read like any action (decision record, action request,
ledger entry) and commits; for an allowed one it then calls `perform()`, which
1. in one transaction, claims the queued row as the executor does (workflows.execution.claim:
   the agent's row read-locked first, then queued → executing; a suspension that cancelled
   it first wins), checks that the agent is still active and the connector enabled, then
   writes the ConnectorAttempt (started) and commits;
2. calls the connector outside any transaction, waiting at most the action type's
   `read_timeout_seconds`: a remote connector runs on a thread of its own, its socket
   timeouts capped just above that bound so that an abandoned call ends soon after (the
   sandbox answers from our own database, on this thread);
3. in one transaction completes the attempt and settles the action: succeeded, with an
   `action.read` ledger entry naming the record asked for and the field paths returned and
   withheld (workflows.clearance); or failed, with the error (504 `read_timeout`, 502
   `read_failed`). The answer kept for replays goes with it.

What was read is never stored: not on the action (`result` stays empty), its attempt (no
response excerpt), the ledger (field names only) or the answer kept for replays, which says
`data_omitted` instead. A failed read is answered and recorded but not retried, escalated,
or held against the connector: it changed nothing. Should this process die mid-way, the
sweeper finishes the action as for any other (a worker then runs the read as it runs an
approved one, storing the filtered result on the action).
"""

import logging
import threading
from datetime import datetime
from typing import NamedTuple

from django.db import transaction
from django.utils import timezone

from governance import ledger
from workflows import clearance, execution, statements
from workflows.connectors import BaseConnector, ConnectorError, Result, connector_for
from workflows.connectors.http import transport_options
from workflows.connectors.sandbox import SandboxConnector
from workflows.models import ActionRequest, ActionState, ConnectorAttempt

__all__ = ["REPLAY_NOTE", "ReadTimeout", "perform"]

logger = logging.getLogger(__name__)

Outcome = ConnectorAttempt.Outcome
# Seconds the transport may outlast the wait: a slow answer is our timeout, not the socket's.
TRANSPORT_GRACE = 1.0
REPLAY_NOTE = (
    "Read results are not kept: this replay carries no data. Read again with a new Idempotency-Key."
)


class ReadTimeout(Exception):
    """The connector did not answer within the action type's read timeout."""


class Failure(NamedTuple):
    """Why a read got no data: the answer's status and code, and the attempt's record."""

    status: int
    code: str
    message: str
    outcome: str
    status_code: int | None = None
    excerpt: str = ""


class Prepared(NamedTuple):
    """A claimed read, checked, with its attempt recorded: ready for the call."""

    action: ActionRequest
    connector: BaseConnector
    attempt: ConnectorAttempt


def _error(first: dict, status: int, code: str, message: str, state: str) -> tuple[int, dict]:
    body = {
        "error": {"code": code, "message": message, "fields": {}},
        "action_id": first["id"],
        "state": state,
        "decision": first["decision"],
    }
    return status, body


def _not_answered(first: dict) -> tuple[int, dict]:
    """The answer when the action is no longer this request's to run (a suspension
    cancelled it first, or the sweeper took it over)."""
    state = ActionRequest.objects.values_list("state", flat=True).get(pk=first["id"])
    return _error(first, 409, "not_run", f"The read was not run here: it is {state}.", state)


def _settle(
    action: ActionRequest,
    state: str,
    verb: str,
    answer: tuple[int, dict],
    *,
    error: str = "",
    **data,
) -> None:
    """Settle the (locked) action as a run of the executor ends (workflows.execution.settle),
    recorded as the agent's doing, with the answer kept for replays."""
    actor = ledger.Actor.for_agent(action.agent)
    facts = {"state": state, **data}
    execution.settle(action, state, verb, facts, error=error, answer=answer, actor=actor)


def _prepare(first: dict, token: datetime) -> Prepared | tuple[int, dict]:
    """The claim, the checks before the call and the attempt row, committed together
    before the call; or the answer when the read is not run."""
    with transaction.atomic():
        action = execution.claim(first["id"], token)
        if action is None:
            return _not_answered(first)
        if message := execution.inactive_agent(action, "read"):
            answer = _error(first, 423, "agent_suspended", message, ActionState.CANCELLED)
            _settle(action, ActionState.CANCELLED, "action.cancelled", answer, error=message)
            return answer
        connector = connector_for(action)
        if message := execution.disabled_connector(connector, "read"):
            answer = _error(first, 502, "read_failed", message, ActionState.FAILED)
            _settle(action, ActionState.FAILED, "action.failed", answer, error=message)
            return answer
        attempt = execution.start_attempt(action, connector)
    return Prepared(action, connector, attempt)


def _call(connector: BaseConnector, action: ActionRequest, bound: float) -> Result:
    """The connector's answer to the read, waited for at most `bound` seconds (ReadTimeout
    after that); the connector's own errors are raised as they are."""
    if isinstance(connector, SandboxConnector):
        return connector.execute(action, action.payload, str(action.pk))
    options = transport_options(connector.config)
    connector.config = {
        **connector.config,
        "connect_timeout_seconds": min(options["connect_timeout"], bound + TRANSPORT_GRACE),
        "timeout_seconds": min(options["read_timeout"], bound + TRANSPORT_GRACE),
    }
    outcome: list = []

    def run() -> None:
        try:
            outcome.append(connector.execute(action, action.payload, str(action.pk)))
        except Exception as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, name=f"read-{action.pk}", daemon=True)
    thread.start()
    thread.join(bound)
    if not outcome:
        raise ReadTimeout(f"No answer from {connector.describe()} within {bound:g}s.")
    if isinstance(outcome[0], Exception):
        raise outcome[0]
    return outcome[0]


def perform(first: dict) -> tuple[int, dict]:
    """Run the allowed read whose gateway answer is `first` (201, queued) within this
    request, and return the status and body to answer instead (see the module docstring)."""
    token = timezone.now()
    prepared = _prepare(first, token)
    if not isinstance(prepared, Prepared):
        return prepared
    action, connector, attempt = prepared
    bound = float(action.action_type.read_timeout_seconds)
    result: Result | None = None
    failure: Failure | None = None
    try:
        result = _call(connector, action, bound)
    except ReadTimeout as exc:
        failure = Failure(504, "read_timeout", str(exc), Outcome.TEMPORARY_ERROR)
    except ConnectorError as exc:
        failure = Failure(
            502,
            "read_failed",
            execution.scrub(exc.message, connector.secrets),
            Outcome.PERMANENT_ERROR if exc.permanent else Outcome.TEMPORARY_ERROR,
            exc.status_code,
            execution.scrub(exc.excerpt, connector.secrets),
        )
    except Exception:
        logger.exception("Connector %s failed on read %s", connector.kind, action.pk)
        message = "The connector failed unexpectedly."
        failure = Failure(502, "read_failed", message, Outcome.PERMANENT_ERROR)
    status_code = result.status_code if result is not None else failure.status_code
    with transaction.atomic():
        attempt.outcome = failure.outcome if failure else Outcome.SUCCEEDED
        attempt.finished_at = timezone.now()
        attempt.status_code = status_code
        attempt.error = failure.message if failure else ""
        attempt.response_excerpt = failure.excerpt if failure else ""  # never what was read
        statements.record_attempt_outcome(attempt, execution.ATTEMPT_OUTCOME)
        if not statements.lock_if_still_claimed(action.pk, token):
            # Only the sweeper takes a claim away, and only long after any read's bound.
            return _not_answered(first)
        # The row claimed before the call is still the row, now locked.
        facts = execution.call_facts(action, connector, status_code)
        if failure is not None:
            answer = _error(
                first, failure.status, failure.code, failure.message, ActionState.FAILED
            )
            _settle(
                action, ActionState.FAILED, "action.failed", answer, error=failure.message, **facts
            )
            return answer
        filtered = clearance.visible(action, execution.scrub(result.data, connector.secrets))
        body = {
            **first,
            "state": ActionState.SUCCEEDED,
            "withheld_fields": filtered.withheld,
            "data_omitted": False,
            "data": filtered.data,
        }
        kept = {**body, "data": None, "data_omitted": True, "note": REPLAY_NOTE}
        _settle(
            action,
            ActionState.SUCCEEDED,
            "action.read",
            (200, kept),
            **facts,
            **clearance.read_facts(action, filtered),
        )
        return 200, body
