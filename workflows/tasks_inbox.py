"""The inbox's periodic work: SLA warnings, moves up the queue chain, explicit expiry."""

from celery import shared_task

from workflows import inbox

__all__ = ["check_escalation_slas"]


@shared_task(acks_late=True, ignore_result=True)
def check_escalation_slas() -> dict[str, int]:
    """Warn, escalate and expire overdue escalations (idempotent: each is re-checked under
    its row lock, so overlapping runs do each step once)."""
    return inbox.check_slas()
