"""Hand-offs to the background after commit: nothing is enqueued for a rolled-back change."""

from django.db import transaction

__all__ = ["enqueue_execution"]


def enqueue_execution(action_id) -> None:
    """Run the action's execution task once the current transaction commits."""
    from workflows.tasks import execute_action

    transaction.on_commit(lambda: execute_action.delay(str(action_id)))
