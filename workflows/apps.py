from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        # signals: keeps every process's copy of the action catalogue in step with the
        # database. agent_stopped: however an agent is suspended or retired (API, pages,
        # admin, inbox, a hard limit), its queued and pending actions and their open
        # escalations end in the same transaction (workflows.inbox.cancel_for_stopped_agent).
        # facts: a decision's page links to its action and escalations; the COE's review
        # queue lists the action types an agent's role reaches.
        # rights: a person's open sockets hear when their rights change (workflows.live).
        from agents import review
        from agents.models import Agent
        from agents.signals import agent_stopped
        from governance import links
        from workflows import facts, inbox, rights, signals  # noqa: F401

        agent_stopped.connect(
            inbox.cancel_for_stopped_agent,
            sender=Agent,
            dispatch_uid="workflows.inbox.cancel_for_stopped_agent",
        )
        links.register(facts.decision_facts)
        review.register_reach(facts.reachable_actions)
