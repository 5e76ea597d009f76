"""What the apps above agents do when an agent stops: an explicit hook they register into.

Each time an agent is suspended or retired, by a person (the API, the agent's page, the
admin, the inbox) or by the system (a hard limit), agents.services calls
`agent_stopped(...)` after the state change and its ledger entry, inside the same
transaction and with the agent's row locked. Every registered handler changes what its
app owns in this transaction and records it in the ledger (an exception undoes the whole
change), and returns how many of the agent's actions it cancelled; their sum is the
returned agent's `actions_cancelled`.

This lets apps that build on agents react without agents importing them: workflows
registers workflows.inbox.cancel_for_stopped_agent in its AppConfig.ready(), which
cancels the agent's queued and pending actions and ends their open escalations.
"""

from datetime import datetime
from typing import Protocol

from agents.models import Agent

__all__ = ["StopHandler", "agent_stopped", "on_agent_stopped"]


class StopHandler(Protocol):
    def __call__(self, *, agent: Agent, actor, transition: str, note: str, now: datetime) -> int:
        """React to `agent` (the locked row, in its new state) stopped by `actor` (a user,
        or a governance.ledger.Actor for the system) with `transition` ("suspend" or
        "retire"), `note`, at `now`; return how many of its actions were cancelled."""


_stop_handlers: list[StopHandler] = []


def on_agent_stopped(handler: StopHandler) -> None:
    """Register `handler` (once: registering the same one again changes nothing)."""
    if handler not in _stop_handlers:
        _stop_handlers.append(handler)


def agent_stopped(*, agent: Agent, actor, transition: str, note: str, now: datetime) -> int:
    """Run every registered handler, in registration order, in the caller's transaction;
    how many of the agent's actions they cancelled together."""
    return sum(
        handler(agent=agent, actor=actor, transition=transition, note=note, now=now)
        for handler in _stop_handlers
    )
