from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self) -> None:
        # signals: keeps every process's copy of the action catalogue in step with the
        # database. on_agent_stopped: however an agent is suspended or retired (API, pages,
        # admin, inbox, a hard limit), its queued and pending actions and their open
        # escalations end in the same transaction (workflows.inbox.cancel_for_stopped_agent).
        # facts: a decision's page links to its action and escalations; the COE's review
        # queue lists the action types an agent's role reaches. links: the policies page
        # links to the what-if page, an agent's page to its actions, by these names.
        # rights: a person's open sockets hear when their rights change (workflows.live).
        from agents import review
        from agents.hooks import on_agent_stopped
        from governance import links
        from workflows import facts, inbox, rights, signals  # noqa: F401

        on_agent_stopped(inbox.cancel_for_stopped_agent)
        links.register(facts.decision_facts)
        links.register_page("what-if", "workflows:what-if")
        links.register_page("action", "workflows:action-detail")
        review.register_reach(facts.reachable_actions)
