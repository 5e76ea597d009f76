"""The database itself refuses to change the ledger: triggers on the entry and seal tables
refuse UPDATE and DELETE (and TRUNCATE on PostgreSQL) sent as raw SQL, outside the models;
only the maintenance switch, on purpose and recorded, gets past them."""

import uuid
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction

from governance import ledger, ledger_guard
from governance.models import AuditEntry, LedgerSeal
from tests.conftest import requires_postgres

ENTRIES = AuditEntry._meta.db_table
SEALS = LedgerSeal._meta.db_table


@pytest.fixture
def sealed(world) -> LedgerSeal:
    ledger.seal_pending()
    return LedgerSeal.objects.order_by("seq").first()


def raw(statement: str, params=()) -> int:
    """Run one statement through a plain cursor in its own savepoint; rows it changed."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount


def test_the_guard_triggers_are_installed_on_both_tables(db):
    names = ledger_guard.installed_triggers(connection)
    for table in (ENTRIES, SEALS):
        expected = 2 if connection.vendor in ("postgresql", "sqlite") else 0
        assert len([name for name in names if name.startswith(table)]) == expected, names


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {ENTRIES} SET verb = 'agent.forged' WHERE id = %s",
        f"DELETE FROM {ENTRIES} WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_update_or_delete_an_entry(sealed, statement):
    before = ledger.entry_document(AuditEntry.objects.get(pk=sealed.entry_id))
    with pytest.raises(DatabaseError, match="append-only"):
        raw(statement, [sealed.entry_id])
    assert ledger.entry_document(AuditEntry.objects.get(pk=sealed.entry_id)) == before


@pytest.mark.parametrize(
    "statement",
    [
        f"UPDATE {SEALS} SET chain_hash = 'forged' WHERE seq = %s",
        f"DELETE FROM {SEALS} WHERE seq = %s",
    ],
    ids=["update", "delete"],
)
def test_the_database_refuses_to_update_or_delete_a_seal(sealed, statement):
    with pytest.raises(DatabaseError, match="append-only"):
        raw(statement, [sealed.seq])
    assert LedgerSeal.objects.get(seq=sealed.seq).chain_hash == sealed.chain_hash


def test_a_bulk_delete_of_the_whole_ledger_is_refused(sealed):
    count = AuditEntry.objects.count()
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"DELETE FROM {ENTRIES}")
    assert AuditEntry.objects.count() == count


@requires_postgres
@pytest.mark.parametrize("table", [ENTRIES, SEALS])
def test_postgresql_refuses_to_truncate_the_ledger(sealed, table):
    with pytest.raises(DatabaseError, match="append-only: TRUNCATE"):
        raw(f"TRUNCATE {table} CASCADE")
    assert LedgerSeal.objects.filter(seq=sealed.seq).exists()


def test_inserting_still_works_and_is_sealed(sealed):
    appended = ledger.record("test.fact", ledger.Actor.system("tests"))
    assert ledger.seal_pending() == 1
    assert LedgerSeal.objects.get(entry=appended).seq > sealed.seq


def test_maintenance_lets_one_block_through_and_the_guard_is_back_after_it(sealed):
    with ledger_guard.maintenance(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {ENTRIES} SET verb = 'agent.fixed' WHERE id = %s", [sealed.entry_id]
        )
        assert cursor.rowcount == 1
    assert AuditEntry.objects.get(pk=sealed.entry_id).verb == "agent.fixed"
    with pytest.raises(DatabaseError, match="append-only"):
        raw(f"UPDATE {ENTRIES} SET verb = 'agent.again' WHERE id = %s", [sealed.entry_id])


@requires_postgres
def test_the_switch_alone_does_not_let_a_role_that_does_not_own_the_tables_through(sealed):
    role = f"ledger_reader_{uuid.uuid4().hex[:8]}"
    refused = pytest.raises(DatabaseError, match="append-only: UPDATE")
    with refused, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role}")
        cursor.execute(f"GRANT SELECT, UPDATE ON {ENTRIES} TO {role}")
        cursor.execute(f"SET LOCAL ROLE {role}")
        cursor.execute(f"SET LOCAL {ledger_guard.SWITCH} = 'on'")
        cursor.execute(
            f"UPDATE {ENTRIES} SET verb = 'agent.forged' WHERE id = %s", [sealed.entry_id]
        )
    assert AuditEntry.objects.get(pk=sealed.entry_id).verb != "agent.forged"


def test_ledger_maintenance_runs_the_sql_and_records_who_and_why(sealed, tmp_path, capsys):
    script = tmp_path / "fix.sql"
    script.write_text(
        f"UPDATE {ENTRIES} SET object_repr = 'Redacted' WHERE id = {sealed.entry_id};\n",
        encoding="utf-8",
    )
    call_command("ledger_maintenance", sql=str(script), reason="GDPR request 42")
    assert AuditEntry.objects.get(pk=sealed.entry_id).object_repr == "Redacted"
    recorded = AuditEntry.objects.filter(verb="ledger.maintenance").get()
    assert recorded.data["reason"] == "GDPR request 42"
    assert recorded.data["rows_changed"] == [1]
    assert "Redacted" in recorded.data["statements"][0]
    assert not ledger.verify_database().ok  # the chain still says what was there before


def test_ledger_maintenance_that_fails_changes_and_records_nothing(sealed, tmp_path):
    script = tmp_path / "fix.sql"
    script.write_text(
        f"UPDATE {ENTRIES} SET object_repr = 'Redacted' WHERE id = {sealed.entry_id};\n"
        "UPDATE no_such_table SET x = 1;\n",
        encoding="utf-8",
    )
    with pytest.raises(CommandError, match="Nothing changed"):
        call_command("ledger_maintenance", sql=str(script), reason="oops", stdout=StringIO())
    assert AuditEntry.objects.get(pk=sealed.entry_id).object_repr != "Redacted"
    assert not AuditEntry.objects.filter(verb="ledger.maintenance").exists()


def test_flush_still_empties_the_database_between_transactional_tests(transactional_db):
    ledger.record("test.fact", ledger.Actor.system("tests"))
    ledger.seal_pending()
    call_command("flush", interactive=False, verbosity=0)
    assert not AuditEntry.objects.exists() and not LedgerSeal.objects.exists()
    with pytest.raises(DatabaseError, match="append-only"):
        ledger.record("test.fact", ledger.Actor.system("tests"))
        ledger.seal_pending()
        raw(f"DELETE FROM {ENTRIES}")
