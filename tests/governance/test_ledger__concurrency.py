"""Concurrent writers never wait on a chain head, and concurrent sealers still leave one
valid chain in which every entry is sealed exactly once (PostgreSQL: real row locks)."""

import random
import threading
import time

import pytest
from django.db import connection, transaction

from governance import ledger
from governance.models import AuditEntry, LedgerSeal
from tests.conftest import requires_postgres

WRITERS = 8
ENTRIES_PER_WRITER = 25


def _in_thread(target, errors: list, barrier: threading.Barrier):
    """Run `target` in its own database connection, collecting any exception."""

    def run():
        try:
            barrier.wait(timeout=30)
            target()
        except Exception as exc:  # reported by the test, not swallowed
            errors.append(exc)
        finally:
            connection.close()

    return threading.Thread(target=run)


@requires_postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_and_sealers_leave_a_valid_chain():
    errors: list[Exception] = []
    writing_done = threading.Event()
    barrier = threading.Barrier(WRITERS + 2)

    def writer(number: int):
        def write():
            rng = random.Random(number)
            for i in range(ENTRIES_PER_WRITER):
                with transaction.atomic():
                    ledger.record(
                        "test.append", ledger.Actor.system(f"writer-{number}"), data={"i": i}
                    )
                    # Hold some transactions open so entries commit out of id order.
                    time.sleep(rng.random() / 200)

        return write

    def sealer(wait: bool):
        def seal():
            while not writing_done.is_set():
                ledger.seal_pending(wait=wait, batch_size=7)

        return seal

    writers = [_in_thread(writer(n), errors, barrier) for n in range(WRITERS)]
    sealers = [_in_thread(sealer(wait), errors, barrier) for wait in (True, False)]
    for thread in writers + sealers:
        thread.start()
    for thread in writers:
        thread.join(timeout=120)
    writing_done.set()
    for thread in sealers:
        thread.join(timeout=120)

    assert errors == []
    ledger.seal_pending()
    total = WRITERS * ENTRIES_PER_WRITER
    assert AuditEntry.objects.count() == total
    result = ledger.verify_database()
    assert result.ok, result.problem
    assert result.checked == total
    seals = list(LedgerSeal.objects.order_by("seq").values_list("seq", "entry_id"))
    assert [seq for seq, _ in seals] == list(range(1, total + 1))
    sealed_ids = [entry_id for _, entry_id in seals]
    assert len(set(sealed_ids)) == total
    assert set(sealed_ids) == set(AuditEntry.objects.values_list("id", flat=True))
