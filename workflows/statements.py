"""The statements of the governed path, as named operations.

The gateway, the executor and governed reads say what they record by calling these names;
how each is written lives here, on the primitives of autonomy.core.compiled_sql (a model's
statement compiled once per process, several rows as one statement on PostgreSQL, rows read back as
model instances, no signals). The raw SQL of the executor's claim, which joins the agents'
and governance's tables, is here and nowhere else, its table and column names taken from
the models' metadata.

Every operation runs in the caller's transaction unless its docstring says otherwise, and
none sends model signals: the models written here have neither receivers nor history.
"""

import functools
from datetime import datetime
from typing import NamedTuple

from django.db import connection
from django.db.models import Model

from agents.models import Agent
from autonomy.core.compiled_sql import (
    column_list,
    insert,
    insert_together,
    select,
    update,
    write_together,
)
from governance.models import AuditEntry, BusinessUnit, DecisionRecord
from workflows.models import ActionRequest, ActionState, ConnectorAttempt

__all__ = [
    "Settlement",
    "append_entry",
    "claim_for_execution",
    "lock_agents_of",
    "lock_if_still_claimed",
    "record_attempt_outcome",
    "record_attempt_started",
    "record_governed_action",
    "settlement",
    "write_settlements",
]


def record_governed_action(record: DecisionRecord, action: ActionRequest, *rows: Model) -> None:
    """Insert a decided action: its decision record, the action request and what goes with
    them (its ledger entry; for one that needs approval its escalation and that one's
    entry too), in this order, all or nothing. In autocommit on PostgreSQL it is one
    statement, one round trip and its own commit; inside a transaction a savepoint lets
    the caller catch a refused row (an Idempotency-Key already used) and go on."""
    insert_together(record, action, *rows)


def append_entry(entry: AuditEntry) -> None:
    """Insert one ledger entry (unsaved) with the ledger's statement compiled once."""
    insert(entry)


def _tables() -> dict[str, str]:
    """The quoted tables the raw statements below name, from the models' metadata."""
    quote = connection.ops.quote_name
    return {
        "actions": quote(ActionRequest._meta.db_table),
        "agents": quote(Agent._meta.db_table),
        "decisions": quote(DecisionRecord._meta.db_table),
        "units": quote(BusinessUnit._meta.db_table),
    }


def _ids(action_ids) -> list:
    """Actions' ids as their database column holds them."""
    pk = ActionRequest._meta.pk
    return [pk.get_db_prep_value(pk.to_python(one), connection) for one in action_ids]


def _placeholders(count: int) -> str:
    return ", ".join(["%s"] * count)


# lock_agents_of()'s statement: {ids} is one placeholder per action id, {columns} the
# agent's columns (autonomy.core.compiled_sql.column_list: named, not `*`).
AGENTS_SQL = """
SELECT {columns}, u."name" AS "business_unit_name", r."id" AS "action_id",
    r."action_type_id" AS "action_type_of_action", r."shadow" AS "action_is_shadow"
FROM {actions} r
JOIN {agents} a ON a."id" = r."agent_id"
JOIN {units} u ON u."id" = a."business_unit_id"
WHERE r."id" IN ({ids})
"""


@functools.cache
def _agents_sql(count: int, vendor: str) -> str:
    columns = column_list(Agent, "a")
    sql = AGENTS_SQL.format(columns=columns, ids=_placeholders(count), **_tables())
    return sql + " FOR SHARE OF a" if vendor == "postgresql" else sql


def lock_agents_of(action_ids) -> dict[str, Agent]:
    """The agent of each action (by the action's id as text, each agent its own instance),
    with its business unit's name, locked FOR SHARE on PostgreSQL: a suspension (which
    locks the agent FOR UPDATE, then cancels its queued actions) either commits first and
    is seen, or waits until the caller's transaction ends, while executions of the same
    agent's actions do not wait for one another. Each agent also carries its action's
    `action_type_of_action` and `action_is_shadow`. One statement."""
    ids = _ids(action_ids)
    key = ActionRequest._meta.pk.to_python
    agents = {}
    for agent in select(Agent, _agents_sql(len(ids), connection.vendor), ids):
        agent.business_unit = BusinessUnit.from_db(
            connection.alias, ["id", "name"], [agent.business_unit_id, agent.business_unit_name]
        )
        agents[str(key(agent.action_id))] = agent
    return agents


# claim_for_execution()'s statement, in the SQL PostgreSQL and SQLite share; {ids} and
# {columns} (the action's) as above.
CLAIM_SQL = """
UPDATE {actions} SET "state" = %s, "claimed_at" = %s
WHERE "id" IN ({ids}) AND "state" = %s
AND ("next_attempt_at" IS NULL OR "next_attempt_at" <= %s)
RETURNING {columns}, (
    SELECT d."effect" FROM {decisions} d WHERE d."id" = {actions}."decision_id"
) AS "decision_effect"
"""


@functools.cache
def _claim_sql(count: int) -> str:
    columns = column_list(ActionRequest)
    return CLAIM_SQL.format(columns=columns, ids=_placeholders(count), **_tables())


def claim_for_execution(action_ids, token: datetime) -> list[ActionRequest]:
    """Claim for one run those of the actions that are queued and due (→ executing,
    `claimed_at` = token, this run's token) and return them, locked by the UPDATE, each
    with its decision's effect; not those another run got first, nor any not queued or
    not due. One statement (UPDATE … RETURNING), so two runs never both win one action."""
    ids = _ids(action_ids)
    claimed = select(
        ActionRequest,
        _claim_sql(len(ids)),
        [ActionState.EXECUTING, token, *ids, ActionState.QUEUED, token],
    )
    for action in claimed:
        if action.decision_id is not None:
            action.decision = DecisionRecord.from_db(
                connection.alias, ["id", "effect"], [action.decision_id, action.decision_effect]
            )
    return claimed


def lock_if_still_claimed(action_id, token: datetime) -> bool:
    """Lock the action's row (nothing joined) if it is still executing under the claim
    `token`; False when the sweeper took it over."""
    claimed = ActionRequest.objects.filter(
        pk=action_id, state=ActionState.EXECUTING, claimed_at=token
    ).select_for_update()
    return bool(list(claimed.order_by().values_list("pk", flat=True)))


def record_attempt_started(action: ActionRequest, attempt: ConnectorAttempt) -> None:
    """Write the action's attempt count and insert its attempt (unsaved, started): one
    statement on PostgreSQL, all or nothing."""
    write_together(updates=[(action, ["attempt_count"])], inserts=[attempt])


def record_attempt_outcome(attempt: ConnectorAttempt, fields) -> None:
    """Write `fields` of a saved attempt (its outcome); raises if its row is gone."""
    update(attempt, fields)


class Settlement(NamedTuple):
    """The rows that record where a run left an action, ready to be written together."""

    updates: list[tuple[Model, list[str] | tuple[str, ...]]]
    inserts: list[Model]


def settlement(
    action: ActionRequest,
    fields: list[str],
    entry: AuditEntry,
    completed: tuple[ConnectorAttempt, tuple[str, ...]] | None = None,
) -> Settlement:
    """The writes that record `fields` of an action with its ledger entry and, if given,
    its call's attempt and the attempt fields set: an attempt already written as started
    is updated, one never written (an in-database connector's) is inserted whole, with the
    action's attempt count."""
    if completed is None:
        return Settlement([(action, fields)], [entry])
    attempt, attempt_fields = completed
    if attempt._state.adding:
        return Settlement([(action, [*fields, "attempt_count"])], [attempt, entry])
    return Settlement([(attempt, attempt_fields), (action, fields)], [entry])


def write_settlements(*settlements: Settlement) -> None:
    """Write every settlement as ONE statement on PostgreSQL (updates first, then inserts),
    all or nothing: raises, and keeps nothing, when a row to update is gone."""
    write_together(
        updates=[row for one in settlements for row in one.updates],
        inserts=[row for one in settlements for row in one.inserts],
    )
