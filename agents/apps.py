from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # Registers the Bearer-key authentication scheme with drf-spectacular.
        from agents.api import schema  # noqa: F401
