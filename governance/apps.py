from django.apps import AppConfig
from django.db.backends.signals import connection_created


class GovernanceConfig(AppConfig):
    name = "governance"
    verbose_name = "Governance"

    def ready(self) -> None:
        from governance.ledger_guard import register_sqlite_function

        connection_created.connect(register_sqlite_function, dispatch_uid="ledger-guard")
