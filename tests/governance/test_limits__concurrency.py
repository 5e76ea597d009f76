"""Limits under concurrent requests: 16 threads, each with its own Redis connection, count
against the same counters at once. Totals must be exact and exactly `hard` actions may pass."""

import itertools
import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

from governance import limits
from governance.limits import LimitSpec
from tests.conftest import requires_redis

THREADS = 16
PER_THREAD = 50
NOW = datetime(2026, 3, 4, 12, 0, 30, tzinfo=UTC)

_ids = itertools.count(uuid.uuid4().int % 10**9 * 1000)

pytestmark = requires_redis


def spec(**fields) -> LimitSpec:
    return LimitSpec(
        rule_id=next(_ids),
        policy_id=next(_ids),
        rule_key=uuid.uuid4().hex,
        action_pattern="erp.*",
        scope="business_unit",
        window="hour",
        **fields,
    )


def in_parallel(work) -> list:
    """Run work(thread_number) in THREADS threads started together; their results, flattened."""
    start = threading.Barrier(THREADS)
    results: list[list] = [[] for _ in range(THREADS)]
    errors: list[BaseException] = []

    def run(number: int) -> None:
        try:
            start.wait()
            results[number] = work(number)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    return [item for chunk in results for item in chunk]


def test_concurrent_counts_are_exact_and_exactly_hard_actions_stay_under_the_hard_limit():
    hard = 300
    per_hour = spec(metric="actions", hard=Decimal(hard))
    unit = f"unit-{uuid.uuid4().hex[:12]}"
    key = str(per_hour.rule_id)

    def work(number: int) -> list[float]:
        agent = f"agent-{number}-{unit}"
        return [
            limits.count([per_hour], agent, unit, "erp.invoice.pay", {}, now=NOW)[key]
            for _ in range(PER_THREAD)
        ]

    seen = in_parallel(work)

    total = THREADS * PER_THREAD
    assert sorted(seen) == [float(n) for n in range(1, total + 1)]  # each got its own total
    passed = [value for value in seen if limits.exceeded(per_hour, value) != "hard"]
    assert len(passed) == hard
    assert limits.totals([per_hour], "anyone", unit, now=NOW) == {key: float(total)}
    context = limits.context_for(f"agent-0-{unit}", unit, NOW)
    assert context["counts"]["bu_hour"] == total
    assert context["counts"]["agent_hour"] == PER_THREAD


def test_concurrent_money_and_refunds_add_up_to_the_cent():
    money = spec(metric="payload_sum", field="amount")
    unit = f"unit-{uuid.uuid4().hex[:12]}"
    key = str(money.rule_id)

    def work(number: int) -> list[None]:
        for i in range(PER_THREAD):
            limits.count([money], "agent", unit, "erp.invoice.pay", {"amount": "0.01"}, now=NOW)
            if i % 2:  # every other payment is denied and given back
                limits.refund(
                    [money], "agent", unit, "erp.invoice.pay", {"amount": "0.01"}, now=NOW
                )
        return []

    in_parallel(work)

    kept = THREADS * (PER_THREAD // 2)
    assert limits.totals([money], "agent", unit, now=NOW) == {key: float(Decimal("0.01") * kept)}
