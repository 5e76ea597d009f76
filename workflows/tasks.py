"""Celery tasks of the gateway: execution, the sweeper, and the agents' callbacks.

The database is the truth and every task re-checks it: execution and deliveries are
claimed with conditional UPDATEs, so a message delivered twice (a worker lost after the
work, `acks_late`) does nothing the second time.
"""

from celery import shared_task

from workflows import execution, webhooks

__all__ = [
    "deliver_due_webhooks",
    "deliver_webhook",
    "execute_action",
    "execute_actions",
    "sweep_stuck_actions",
]


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_action(action_id: str) -> str:
    """Execute one queued action (nothing if another worker claimed it or it is not due)."""
    return execution.execute(action_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def execute_actions(action_ids: list[str]) -> list[str]:
    """Execute several queued actions, claimed together (workflows.dispatch sends them
    together when they are committed faster than one message each can be published)."""
    return execution.execute_many(action_ids)


@shared_task(acks_late=True, ignore_result=True)
def sweep_stuck_actions() -> dict[str, int]:
    """Re-enqueue actions whose message was lost; repair what dead workers left."""
    return execution.sweep()


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def deliver_webhook(delivery_id: str) -> str:
    """Send one signed callback if it is still due (claimed, so sent once per try)."""
    return webhooks.deliver(delivery_id)


@shared_task(acks_late=True, ignore_result=True)
def deliver_due_webhooks() -> int:
    """Enqueue the callbacks due for a retry (and first tries whose message was lost)."""
    return webhooks.deliver_due()
