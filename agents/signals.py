"""Every saved or deleted agent, key, role or business unit bumps the AGENTS epoch (now, and
again after commit), so that each process's cached keys (agents.credentials) are re-read on
the next request; see governance.epochs.bump_when_changed.

`agent_stopped` is this app's own signal: see its comment below.
"""

from django.dispatch import Signal

from agents.models import Agent, AgentAPIKey, AgentRole
from governance import epochs
from governance.models import BusinessUnit

epochs.bump_when_changed(epochs.AGENTS, Agent, AgentAPIKey, AgentRole, BusinessUnit)

# Sent (sender=Agent) by agents.services each time an agent is suspended or retired, by a
# person (the API, the agent's page, the admin, the inbox) or by the system (a hard limit),
# after the state change and its ledger entry, inside the same transaction and with the
# agent's row locked. Arguments: `agent` (the locked row, in its new state), `actor` (the
# user, or a governance.ledger.Actor for the system), `transition` ("suspend" or "retire"),
# `note` and `now` (the time of the change). Receivers change what they own in this
# transaction and record it in the ledger; an exception undoes the whole change. Each
# returns how many of the agent's actions it cancelled (or None); agents.services adds
# them up as the returned agent's `actions_cancelled`.
#
# This lets apps that build on agents react without agents importing them: workflows
# connects workflows.inbox.cancel_for_stopped_agent in its AppConfig.ready(), which
# cancels the agent's queued and pending actions and ends their open escalations.
agent_stopped = Signal()
