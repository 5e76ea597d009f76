"""Every saved or deleted agent, key, role or business unit bumps the AGENTS epoch after
commit, so that each process's cached keys (agents.credentials) are re-read on the next
request. Signals rather than calls in each service: the admin and data migrations change
these rows too. (QuerySet.update() sends no signal: services that use it bump themselves.)

`agent_stopped` is this app's own signal: see its comment below.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import Signal, receiver

from agents import credentials
from agents.models import Agent, AgentAPIKey, AgentRole
from governance import epochs
from governance.models import BusinessUnit


@receiver(post_save, sender=Agent)
@receiver(post_save, sender=AgentAPIKey)
@receiver(post_save, sender=AgentRole)
@receiver(post_save, sender=BusinessUnit)
@receiver(post_delete, sender=Agent)
@receiver(post_delete, sender=AgentAPIKey)
@receiver(post_delete, sender=AgentRole)
@receiver(post_delete, sender=BusinessUnit)
def agents_changed(sender, **kwargs) -> None:
    epochs.bump_now_and_on_commit(credentials.EPOCH)


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
