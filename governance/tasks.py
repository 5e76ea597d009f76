"""Periodic governance work."""

from celery import shared_task

from governance import ledger


@shared_task(acks_late=True, ignore_result=True)
def seal_ledger() -> int:
    """Extend the hash chain over newly committed entries (idempotent; one sealer at a time)."""
    return ledger.seal_pending(wait=False)
