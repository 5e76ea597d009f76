"""Governance work done in the background: sealing the ledger and publishing signed
checkpoints of it, verifying it on request."""

import logging

from celery import shared_task

from governance import checkpoints, ledger

__all__ = ["seal_ledger", "verify_ledger_chain"]

logger = logging.getLogger(__name__)


@shared_task(acks_late=True, ignore_result=True)
def seal_ledger() -> int:
    """Extend the hash chain over newly committed entries, then publish a signed checkpoint
    of the new head (idempotent; one sealer at a time). A checkpoint that cannot be published
    now is published by a later round: the head it would have signed is still there."""
    sealed = ledger.seal_pending(wait=False)
    try:
        checkpoints.publish()
    except checkpoints.CheckpointError as exc:
        logger.error("ledger checkpoint not published: %s", exc)
    return sealed


@shared_task(acks_late=True, ignore_result=True)
def verify_ledger_chain(verification_id: int) -> str | None:
    """Run one requested verification (idempotent: the run is claimed, its outcome written once)."""
    return ledger.run_verification(verification_id)
