"""Every saved or deleted action type, connector or queue bumps the CATALOG epoch (now, and again
after commit), so that each process's copy of the catalogue (workflows.catalog) is re-read
on its next request. Signals rather than calls in each service: the admin changes these
rows too.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from governance import epochs
from workflows import catalog
from workflows.models import ActionType, Connector, Queue


@receiver(post_save, sender=ActionType)
@receiver(post_save, sender=Connector)
@receiver(post_delete, sender=ActionType)
@receiver(post_delete, sender=Connector)
@receiver(post_save, sender=Queue)
@receiver(post_delete, sender=Queue)
def catalog_changed(sender, **kwargs) -> None:
    epochs.bump_now_and_on_commit(catalog.EPOCH)
