"""Governance work done in the background: sealing the ledger, verifying it on request."""

from celery import shared_task

from governance import ledger

__all__ = ["seal_ledger", "verify_ledger_chain"]


@shared_task(acks_late=True, ignore_result=True)
def seal_ledger() -> int:
    """Extend the hash chain over newly committed entries (idempotent; one sealer at a time)."""
    return ledger.seal_pending(wait=False)


@shared_task(acks_late=True, ignore_result=True)
def verify_ledger_chain(verification_id: int) -> str | None:
    """Run one requested verification (idempotent: the run is claimed, its outcome written once)."""
    return ledger.run_verification(verification_id)
