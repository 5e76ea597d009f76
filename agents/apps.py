from django.apps import AppConfig


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents"

    def ready(self) -> None:
        # signals: keep every process's cached API keys in step with the database.
        # schema: registers the Bearer-key authentication scheme with drf-spectacular.
        # links: governance's pages link to an agent's page by this name.
        from agents import signals  # noqa: F401
        from agents.api import schema  # noqa: F401
        from governance import links

        links.register_page("agent", "agents:detail")
