"""The database's own refusal to change the ledger, and the one deliberate way around it.

Triggers on the entry and seal tables refuse UPDATE and DELETE (and TRUNCATE on
PostgreSQL), whoever sends them: the application, a shell, a script. The models refuse too,
but only for code that goes through them.

The way around is maintenance, switched on for one transaction (PostgreSQL) or one block
on one connection (SQLite), never by configuration, so no ordinary connection has it on:

- PostgreSQL: `SET LOCAL autonomy.ledger_maintenance = 'on'` inside a transaction, and the
  trigger also requires the current role to be (a member of) the table's owner, the role
  that could `ALTER TABLE ... DISABLE TRIGGER` anyway. An application that connects as a
  role that does not own the tables cannot use the switch at all.
- SQLite: a flag on the connection object, read by the `autonomy_ledger_maintenance()` SQL
  function this module registers on the application's connections. A connection without
  the function (the sqlite3 shell) gets an error from the trigger: it is refused too.

Used by `flush` (tests empty the database between transactional tests) and by
`manage.py ledger_maintenance`, which records in the ledger that it ran. Anyone who holds
the database owner's rights can still rewrite the ledger; the signed checkpoints published
outside the database (governance.checkpoints) are what catch that.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

__all__ = [
    "SWITCH",
    "TABLES",
    "install",
    "installed_triggers",
    "maintenance",
    "register_sqlite_function",
    "uninstall",
]

TABLES = ("governance_auditentry", "governance_ledgerseal")
SWITCH = "autonomy.ledger_maintenance"
_SQLITE_FUNCTION = "autonomy_ledger_maintenance"
_FLAG = "_autonomy_ledger_maintenance"
_MESSAGE = "the audit ledger is append-only"

_POSTGRES_FUNCTION = """
CREATE OR REPLACE FUNCTION autonomy_ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('autonomy.ledger_maintenance', true) = 'on'
       AND pg_has_role((SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'USAGE') THEN
        IF TG_LEVEL = 'STATEMENT' THEN
            RETURN NULL;
        ELSIF TG_OP = 'DELETE' THEN
            RETURN OLD;
        END IF;
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'the audit ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING HINT = 'See "The ledger in the database" in README.md for maintenance.';
END
$$;
"""


def _postgres_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION autonomy_ledger_refuse_change()",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION autonomy_ledger_refuse_change()",
    ]


def _sqlite_statements(table: str) -> list[str]:
    return [
        f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
        f"WHEN NOT {_SQLITE_FUNCTION}() BEGIN "
        f"SELECT RAISE(ABORT, '{_MESSAGE}: {operation} on {table} refused'); END"
        for operation in ("UPDATE", "DELETE")
    ]


def install(schema_editor) -> None:
    """Create the triggers (a migration's RunPython forward step)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(_POSTGRES_FUNCTION, params=None)  # its % are not placeholders
        statements = [s for table in TABLES for s in _postgres_statements(table)]
    elif vendor == "sqlite":
        statements = [s for table in TABLES for s in _sqlite_statements(table)]
    else:
        return  # no other database is supported; nothing to install
    for statement in statements:
        schema_editor.execute(statement)


def uninstall(schema_editor) -> None:
    """Drop the triggers (the migration's reverse step)."""
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        schema_editor.execute("DROP FUNCTION IF EXISTS autonomy_ledger_refuse_change()")
    elif vendor == "sqlite":
        for table in TABLES:
            for operation in ("update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_{operation}")


def installed_triggers(connection: BaseDatabaseWrapper) -> list[str]:
    """The names of the guard triggers present (and on PostgreSQL enabled), sorted."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgenabled <> 'D' "
                "AND tgrelid::regclass::text = ANY(%s)",
                [list(TABLES)],
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (%s, %s)",
                list(TABLES),
            )
        else:
            return []
        return sorted(row[0] for row in cursor.fetchall())


def register_sqlite_function(sender, connection: BaseDatabaseWrapper, **kwargs) -> None:
    """On every new SQLite connection, the function the triggers ask (connection_created)."""
    if connection.vendor != "sqlite":
        return
    connection.connection.create_function(
        _SQLITE_FUNCTION, 0, lambda: int(getattr(connection, _FLAG, False))
    )


def _set_switch(connection: BaseDatabaseWrapper, value: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config(%s, %s, true)", [SWITCH, value])


@contextmanager
def maintenance(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Let this block change the ledger tables, in one transaction on this connection only.

    On PostgreSQL the current role must own the tables (or be a member of their owner).
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            _set_switch(connection, "on")
            yield
            # Off again for the rest of an enclosing transaction; after an error the
            # rollback (of this transaction or savepoint) undoes the SET LOCAL instead.
            _set_switch(connection, "off")
            return
        setattr(connection, _FLAG, True)
        try:
            yield
        finally:
            setattr(connection, _FLAG, False)
