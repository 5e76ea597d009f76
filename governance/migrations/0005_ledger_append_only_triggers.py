"""Database triggers that refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) of the
ledger's entries and seals (governance.ledger_guard).

A later migration that rebuilds either table on SQLite (ALTER that SQLite cannot do in
place) drops these triggers with the old table: it must call ledger_guard.install again,
and tests/governance/test_ledger__database.py fails until it does.
"""

from django.db import migrations


def install(apps, schema_editor):
    from governance import ledger_guard

    ledger_guard.install(schema_editor)


def uninstall(apps, schema_editor):
    from governance import ledger_guard

    ledger_guard.uninstall(schema_editor)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0004_drop_redundant_indexes"),
    ]

    operations = [migrations.RunPython(install, uninstall, elidable=False)]
