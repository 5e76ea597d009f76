"""Django's `flush`, with the ledger's maintenance switch on: the ledger tables' triggers
refuse the TRUNCATE (PostgreSQL) or DELETE (SQLite) that emptying the database sends.
Tests flush between transactional tests; `flush` already asks before it deletes everything."""

from django.core.management.commands import flush

from governance.ledger_guard import maintenance


class Command(flush.Command):
    def handle(self, **options):
        with maintenance(options["database"]):
            return super().handle(**options)
