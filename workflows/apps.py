from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        # Keeps every process's copy of the action catalogue in step with the database.
        from workflows import signals  # noqa: F401
