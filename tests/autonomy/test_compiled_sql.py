"""autonomy.core.compiled_sql: several new rows in one statement, all or nothing; an insert
that skips a conflicting row; an update of some fields; updates and inserts in one
statement; rows of a hand-written statement read as model instances."""

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from autonomy.core.compiled_sql import insert, insert_together, select, update, write_together
from governance import ledger
from governance.models import AuditEntry, DecisionRecord
from tests.conftest import requires_postgres
from workflows.models import ActionRequest, ActionType, SandboxEffect


def decision(world) -> DecisionRecord:
    return DecisionRecord(
        created_at=timezone.now(),
        agent_id=world.agent_a.pk,
        action="erp.x.create",
        business_unit_id=world.agent_a.business_unit_id,
        autonomy_level=1,
        effect="allow",
    )


def action(world, action_type, record, key="k-1") -> ActionRequest:
    return ActionRequest(
        agent=world.agent_a,
        business_unit_id=world.agent_a.business_unit_id,
        action_type=action_type,
        idempotency_key=key,
        request_hash="h",
        payload_hash="p",
        decision=record,
        state="queued",
        created_at=timezone.now(),
    )


@pytest.fixture
def action_type(db):
    return ActionType.objects.create(name="erp.x.create")


def test_rows_that_refer_to_each_other_go_in_together(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    entry = ledger.entry("test.inserted", ledger.Actor.system(), row, data={"n": 1})
    insert_together(record, row, entry)
    assert entry.pk is not None  # the database's id is handed back
    assert AuditEntry.objects.get(pk=entry.pk).data == {"n": 1}
    assert ActionRequest.objects.get(pk=row.pk).decision_id == record.pk
    assert not row._state.adding


def test_a_refused_row_leaves_none_of_them_and_the_transaction_usable(world, action_type):
    first = decision(world)
    insert_together(first, action(world, action_type, first))
    before = (DecisionRecord.objects.count(), AuditEntry.objects.count())
    second = decision(world)
    duplicate = action(world, action_type, second)  # the same idempotency key
    entry = ledger.entry("test.inserted", ledger.Actor.system(), duplicate)
    with pytest.raises(IntegrityError):
        insert_together(second, duplicate, entry)
    assert (DecisionRecord.objects.count(), AuditEntry.objects.count()) == before


def test_every_key_the_database_assigns_is_handed_back(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    first = ledger.entry("test.first", ledger.Actor.system(), row)
    second = ledger.entry("test.second", ledger.Actor.system(), row)
    insert_together(first, record, row, second)
    assert AuditEntry.objects.get(pk=first.pk).verb == "test.first"
    assert AuditEntry.objects.get(pk=second.pk).verb == "test.second"


def effect(world, row) -> SandboxEffect:
    return SandboxEffect(
        action=row,
        business_unit_id=row.business_unit_id,
        agent_slug=world.agent_a.slug,
        action_name="erp.x.create",
        payload={"n": 1},
        created_at=timezone.now(),
    )


def test_a_conflicting_row_is_skipped_and_the_transaction_stays_usable(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    insert_together(record, row)
    first = effect(world, row)
    with transaction.atomic():
        assert insert(first, ignore_conflicts=True) is True
        assert first.pk is not None
        again = effect(world, row)  # one effect per action: refused by the unique key
        assert insert(again, ignore_conflicts=True) is False
        assert again.pk is None
        assert ActionRequest.objects.filter(pk=row.pk).exists()  # no aborted transaction
    assert list(SandboxEffect.objects.values_list("pk", flat=True)) == [first.pk]


def test_a_conflict_not_ignored_is_an_integrity_error(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    insert_together(record, row)
    insert(effect(world, row))
    with pytest.raises(IntegrityError), transaction.atomic():
        insert(effect(world, row))


def test_update_writes_only_the_fields_named(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    insert_together(record, row)
    ActionRequest.objects.filter(pk=row.pk).update(reason="set elsewhere")
    row.state, row.error, row.reason = "failed", "boom", "stale in memory"
    update(row, ["state", "error"])
    stored = ActionRequest.objects.get(pk=row.pk)
    assert (stored.state, stored.error, stored.reason) == ("failed", "boom", "set elsewhere")


def test_update_of_a_row_that_is_gone_raises(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    insert_together(record, row)
    ActionRequest.objects.filter(pk=row.pk).delete()
    row.state = "failed"
    with pytest.raises(ActionRequest.DoesNotExist):
        update(row, ["state"])


def test_updates_and_inserts_go_in_together(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    insert_together(record, row)
    row.state, row.attempt_count = "succeeded", 2
    first = ledger.entry("test.first", ledger.Actor.system(), row)
    second = ledger.entry("test.second", ledger.Actor.system(), row)
    write_together(updates=[(row, ["state", "attempt_count"])], inserts=[first, second])
    stored = ActionRequest.objects.get(pk=row.pk)
    assert (stored.state, stored.attempt_count) == ("succeeded", 2)
    assert AuditEntry.objects.get(pk=first.pk).verb == "test.first"
    assert AuditEntry.objects.get(pk=second.pk).verb == "test.second"


def test_a_row_to_update_that_is_gone_keeps_nothing(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    insert_together(record, row)
    ActionRequest.objects.filter(pk=row.pk).delete()
    before = AuditEntry.objects.count()
    row.state = "succeeded"
    entry = ledger.entry("test.orphan", ledger.Actor.system(), row)
    # The caller's transaction fails with it (here the block's, a savepoint in the test's).
    with pytest.raises(ActionRequest.DoesNotExist), transaction.atomic():
        write_together(updates=[(row, ["state"])], inserts=[entry])
    assert AuditEntry.objects.count() == before


SELECT_SQL = """
SELECT r.*, d."effect" AS "decision_effect"
FROM "workflows_actionrequest" r JOIN "governance_decisionrecord" d ON d."id" = r."decision_id"
WHERE r."created_at" = %s AND r."state" = %s
"""


def test_select_reads_rows_as_instances_converted_like_the_orm(world, action_type):
    record = decision(world)
    row = action(world, action_type, record)
    row.payload = {"amount": 12.5, "lines": [1, 2]}
    insert_together(record, row)
    # A datetime parameter matches the stored value (SQLite keeps datetimes as text).
    [found] = select(ActionRequest, SELECT_SQL, [row.created_at, "queued"])
    expected = ActionRequest.objects.get(pk=row.pk)
    assert found.pk == expected.pk and isinstance(found.pk, type(expected.pk))
    assert found.payload == {"amount": 12.5, "lines": [1, 2]}  # JSON decoded
    assert found.created_at == expected.created_at  # an aware datetime
    assert found.decision_id == record.pk
    assert found.decision_effect == "allow"  # a column no field has: an attribute
    assert not found._state.adding
    assert select(ActionRequest, SELECT_SQL, [row.created_at, "denied"]) == []


def test_select_refuses_a_statement_missing_a_fields_column(world, action_type):
    with pytest.raises(ValueError, match="needs every column"):
        select(ActionRequest, 'SELECT "id" FROM "workflows_actionrequest"', [])


@requires_postgres
def test_a_statement_sent_often_is_prepared_on_the_server_and_djangos_own_are_not(
    world, action_type
):
    """DATABASE_PREPARE_THRESHOLD (5): PostgreSQL parses and plans the gateway's statement
    once per connection after its fifth use; the ORM's client-bound queries stay unprepared."""

    def prepared() -> list[str]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            return [row[0] for row in cursor.fetchall()]

    for n in range(6):
        record = decision(world)
        insert_together(record, action(world, action_type, record, key=f"k-{n}"))
        ActionRequest.objects.filter(idempotency_key=f"k-{n}").exists()
    statements = prepared()
    assert any(s.startswith("WITH w0 AS (INSERT INTO") for s in statements), statements
    assert not any("EXISTS" in s.upper() or "LIMIT" in s.upper() for s in statements)
