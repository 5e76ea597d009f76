"""Change the ledger tables on purpose: run SQL with the triggers' maintenance switch on,
in one transaction that also records, in the ledger, who ran what and why."""

import getpass
import hashlib
from pathlib import Path

import sqlparse
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connection

from governance import ledger
from governance.ledger_guard import maintenance


class Command(BaseCommand):
    help = (
        "Run the SQL statements of FILE against the ledger tables, which the database "
        "otherwise refuses to change, and record a ledger.maintenance entry with the reason, "
        "the statements and the rows each changed. All or nothing. On PostgreSQL the "
        "database role must own the ledger tables. verify_ledger will report what changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("--sql", metavar="FILE", required=True, help="the statements")
        parser.add_argument("--reason", required=True, help="why (recorded in the ledger)")

    def handle(self, *args, sql: str, reason: str, **options):
        if not reason.strip():
            raise CommandError("--reason must say why the ledger is changed.")
        try:
            text = Path(sql).read_text(encoding="utf-8")
        except OSError as exc:
            raise CommandError(f"Cannot read {sql}: {exc}") from exc
        statements = [s.strip().rstrip(";") for s in sqlparse.split(text) if s.strip()]
        if not statements:
            raise CommandError(f"{sql} holds no SQL statement.")
        changed = []
        try:
            with maintenance(), connection.cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                    changed.append(cursor.rowcount)
                ledger.record(
                    "ledger.maintenance",
                    ledger.Actor.system(f"ledger_maintenance ({getpass.getuser()})"),
                    object_type="governance.auditentry",
                    object_repr=reason.strip()[:200],
                    data={
                        "reason": reason.strip(),
                        "sql_sha256": hashlib.sha256(text.encode()).hexdigest(),
                        "statements": statements,
                        "rows_changed": changed,
                    },
                )
        except DatabaseError as exc:
            raise CommandError(f"Nothing changed: {exc}") from exc
        self.stdout.write(
            f"Ran {len(statements)} statement(s), rows changed: {changed}; recorded in the ledger."
        )
