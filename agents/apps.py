from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # signals: keep every process's cached API keys in step with the database.
        # schema: registers the Bearer-key authentication scheme with drf-spectacular.
        from agents import signals  # noqa: F401
        from agents.api import schema  # noqa: F401
