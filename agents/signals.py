"""Every saved or deleted agent, key, role or business unit bumps the AGENTS epoch after
commit, so that each process's cached keys (agents.credentials) are re-read on the next
request. Signals rather than calls in each service: the admin and data migrations change
these rows too. (QuerySet.update() sends no signal: services that use it bump themselves.)
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

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
