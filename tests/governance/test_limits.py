"""Limits and budgets: which limits apply, what each action adds, thresholds, refunds, windows.

These run against whatever cache the settings give (the embedded Redis under `make test`,
Django's local-memory cache otherwise). Every test uses its own rule keys and slugs, so
counters left in a shared Redis by earlier runs never meet.
"""

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from governance import limits
from governance.limits import LimitSpec
from tests.conftest import requires_redis

_ids = itertools.count(uuid.uuid4().int % 10**9 * 1000)

NOON = datetime(2026, 3, 4, 12, 0, 30, tzinfo=UTC)  # a Wednesday


def spec(**fields) -> LimitSpec:
    values = {
        "rule_id": next(_ids),
        "policy_id": next(_ids),
        "rule_key": uuid.uuid4().hex,
        "action_pattern": "erp.purchase_order.*",
        "metric": "actions",
        "scope": "agent",
        "window": "hour",
    }
    values.update(fields)
    return LimitSpec(**values)


def count(specs, agent, unit, payload=None, reported=None, *, now=NOON, action=None):
    return limits.count(
        specs,
        agent,
        unit,
        action or "erp.purchase_order.create",
        payload or {},
        reported or {},
        now=now,
    )


def test_applicable_keeps_the_specs_whose_scope_and_pattern_cover_the_action():
    everyone = spec()
    other_action = spec(action_pattern="crm.*")
    for_role = spec(roles=frozenset({"buyer"}))
    other_role = spec(roles=frozenset({"seller"}))
    for_unit = spec(business_units=frozenset({"emea"}))
    other_unit = spec(business_units=frozenset({"apac"}))
    for_agent = spec(agents=frozenset({"po-bot"}))
    other_agent = spec(agents=frozenset({"other-bot"}))
    for_level = spec(autonomy_levels=frozenset({2, 3}))
    other_level = spec(autonomy_levels=frozenset({0}))
    all_specs = [
        everyone,
        other_action,
        for_role,
        other_role,
        for_unit,
        other_unit,
        for_agent,
        other_agent,
        for_level,
        other_level,
    ]

    found = limits.applicable(all_specs, "po-bot", "buyer", "emea", 2, "erp.purchase_order.create")

    assert found == [everyone, for_role, for_unit, for_agent, for_level]


def test_count_returns_each_limits_total_after_counting_this_action(agent, unit):
    per_hour = spec()

    totals = [count([per_hour], agent, unit)[str(per_hour.rule_id)] for _ in range(3)]

    assert totals == [1.0, 2.0, 3.0]
    assert limits.totals([per_hour], agent, unit, now=NOON) == {str(per_hour.rule_id): 3.0}


def test_totals_read_without_counting(agent, unit):
    per_hour = spec()

    assert limits.totals([per_hour], agent, unit, now=NOON) == {str(per_hour.rule_id): 0.0}
    assert limits.totals([per_hour], agent, unit, now=NOON) == {str(per_hour.rule_id): 0.0}


def test_count_skips_specs_whose_pattern_does_not_cover_the_action(agent, unit):
    purchases, crm = spec(), spec(action_pattern="crm.*")

    totals = count([purchases, crm], agent, unit)

    assert totals == {str(purchases.rule_id): 1.0}
    assert limits.totals([crm], agent, unit, now=NOON) == {str(crm.rule_id): 0.0}


def test_soft_then_hard_thresholds_are_crossed_only_when_the_total_goes_over_them(agent, unit):
    per_hour = spec(soft=Decimal(2), hard=Decimal(3))

    states = [
        limits.exceeded(per_hour, count([per_hour], agent, unit)[str(per_hour.rule_id)])
        for _ in range(5)
    ]

    assert states == ["", "", "soft", "hard", "hard"]
    current = limits.totals([per_hour], agent, unit, now=NOON)[str(per_hour.rule_id)]
    assert limits.exceeded(per_hour, current) == "hard"


def test_a_limit_without_thresholds_is_never_exceeded():
    assert limits.exceeded(spec(), 10**9) == ""
    assert limits.exceeded(spec(soft=Decimal("0.5")), 0.5) == ""
    assert limits.exceeded(spec(soft=Decimal("0.5")), 0.5001) == "soft"


def test_payload_sum_adds_up_the_field_exactly(agent, unit):
    money = spec(metric="payload_sum", field="amount", window="day", hard=Decimal("1000"))

    first = count([money], agent, unit, {"amount": 0.1})
    second = count([money], agent, unit, {"amount": "0.2"})
    third = count([money], agent, unit, {"amount": 999.8})

    key = str(money.rule_id)
    assert (first[key], second[key], third[key]) == (0.1, 0.3, 1000.1)
    assert limits.exceeded(money, third[key]) == "hard"


def test_payload_sum_counts_money_moved_either_way_and_follows_dotted_fields(agent, unit):
    money = spec(metric="payload_sum", field="order.total")

    count([money], agent, unit, {"order": {"total": -250}})
    totals = count([money], agent, unit, {"order": {"total": 100}})

    assert totals[str(money.rule_id)] == 350.0


@pytest.mark.parametrize(
    ("payload", "what"),
    [({}, "missing"), ({"amount": "lots"}, "not a number"), ({"amount": True}, "not a number")],
)
def test_a_missing_or_non_numeric_payload_field_counts_as_zero_and_is_noted(
    agent, unit, payload, what
):
    money = spec(metric="payload_sum", field="amount")

    totals = count([money], agent, unit, payload)

    assert totals[str(money.rule_id)] == 0.0
    assert totals.notes == (f"rule {money.rule_id}: payload field 'amount' is {what}",)


def test_spend_and_tokens_add_what_the_agent_reports_and_default_to_zero(agent, unit):
    spend = spec(metric="spend", window="day")
    tokens = spec(metric="tokens", window="day")

    count([spend, tokens], agent, unit, reported={"spend": "0.0125", "tokens": 1500})
    count([spend, tokens], agent, unit, reported={"tokens": 500})
    totals = count([spend, tokens], agent, unit, reported={"spend": -5})

    assert totals[str(spend.rule_id)] == 0.0125
    assert totals[str(tokens.rule_id)] == 2000.0
    assert totals.notes == (f"rule {spend.rule_id}: reported spend is not a number >= 0",)


def test_refund_gives_money_back_but_attempts_keep_counting(agent, unit):
    money = spec(metric="payload_sum", field="amount", hard=Decimal(1000))
    attempts = spec(hard=Decimal(100))
    both = [money, attempts]

    count(both, agent, unit, {"amount": 900})
    over = count(both, agent, unit, {"amount": 500})
    assert limits.exceeded(money, over[str(money.rule_id)]) == "hard"

    left = limits.refund(
        both, agent, unit, "erp.purchase_order.create", {"amount": 500}, {}, now=NOON
    )

    assert left == {str(money.rule_id): 900.0}
    assert limits.totals(both, agent, unit, now=NOON) == {
        str(money.rule_id): 900.0,
        str(attempts.rule_id): 2.0,
    }
    # With the denied attempt refunded, a smaller order still fits the budget.
    fits = count(both, agent, unit, {"amount": 100})
    assert fits[str(money.rule_id)] == 1000.0
    assert limits.exceeded(money, fits[str(money.rule_id)]) == ""


def test_counted_refunds_a_block_that_raises_and_a_denied_action_once(agent, unit):
    money = spec(metric="payload_sum", field="amount")
    action = "erp.purchase_order.create"

    failing = limits.counted([money], agent, unit, action, {"amount": 300}, now=NOON)
    with pytest.raises(RuntimeError), failing as counting:
        assert counting.totals == {str(money.rule_id): 300.0}
        raise RuntimeError("not recorded")
    assert limits.totals([money], agent, unit, now=NOON) == {str(money.rule_id): 0.0}

    with limits.counted([money], agent, unit, action, {"amount": 200}, now=NOON) as kept:
        pass
    denying = limits.counted([money], agent, unit, action, {"amount": 50}, now=NOON)
    with pytest.raises(RuntimeError), denying as denied:
        denied.refund()
        raise RuntimeError("and then not recorded either")
    assert (kept.refunded, denied.refunded) == (False, True)
    assert limits.totals([money], agent, unit, now=NOON) == {str(money.rule_id): 200.0}


def test_a_refund_never_goes_below_zero_nor_revives_an_expired_bucket(agent, unit):
    money = spec(metric="payload_sum", field="amount", window="minute")
    payload = {"amount": 50}

    count([money], agent, unit, payload)
    refund = limits.refund
    refund([money], agent, unit, "erp.purchase_order.create", payload, {}, now=NOON)
    again = refund([money], agent, unit, "erp.purchase_order.create", payload, {}, now=NOON)
    later = NOON + timedelta(minutes=5)
    stale = refund([money], agent, unit, "erp.purchase_order.create", payload, {}, now=later)

    assert again == {str(money.rule_id): 0.0}
    assert stale == {str(money.rule_id): 0.0}
    assert limits.totals([money], agent, unit, now=later) == {str(money.rule_id): 0.0}


def test_each_window_starts_afresh_in_its_next_bucket(agent, unit):
    per_minute = spec(window="minute")
    per_hour = spec(window="hour")
    per_day = spec(window="day")
    every = [per_minute, per_hour, per_day]

    count(every, agent, unit, now=NOON)
    count(every, agent, unit, now=NOON + timedelta(seconds=29))  # 12:00:59, same minute
    next_minute = count(every, agent, unit, now=NOON + timedelta(seconds=30))
    next_hour = count(every, agent, unit, now=NOON + timedelta(hours=1))
    next_day = count(every, agent, unit, now=NOON + timedelta(days=1))

    m, h, d = (str(s.rule_id) for s in every)
    assert next_minute == {m: 1.0, h: 3.0, d: 3.0}
    assert next_hour == {m: 1.0, h: 1.0, d: 4.0}
    assert next_day == {m: 1.0, h: 1.0, d: 1.0}


@requires_redis
def test_counters_expire_in_redis_once_their_window_is_over(agent, unit):
    from django.core.cache import cache

    per_minute = spec(window="minute")
    count([per_minute], agent, unit, now=NOON)

    key, _ = limits._limit_key(per_minute, agent, unit, limits._now(NOON))
    client = cache._cache.get_client(write=True)
    ttl = client.ttl(cache.make_and_validate_key(key))
    # 30 seconds left in the minute at 12:00:30, plus the grace for lagging clocks.
    assert 0 < ttl <= 30 + 120


def test_agent_limits_count_per_agent_and_unit_limits_per_unit(unit):
    per_agent = spec(scope="agent")
    per_unit = spec(scope="business_unit")
    both = [per_agent, per_unit]

    count(both, "agent-one-" + unit, unit)
    count(both, "agent-one-" + unit, unit)
    totals = count(both, "agent-two-" + unit, unit)

    assert totals == {str(per_agent.rule_id): 1.0, str(per_unit.rule_id): 3.0}


def test_the_decision_context_has_the_time_and_recent_counts(agent, unit):
    other = f"{agent}-other"
    count([], agent, unit, now=NOON)
    count([], agent, unit, now=NOON + timedelta(minutes=5))
    count([], other, unit, now=NOON + timedelta(minutes=10))
    count([], agent, unit, now=NOON - timedelta(hours=2))  # earlier today

    context = limits.context_for(agent, unit, NOON + timedelta(minutes=15))

    assert context == {
        "hour": 12,
        "minute": 15,
        "weekday": 2,
        "counts": {"agent_hour": 2, "agent_day": 3, "bu_hour": 3, "bu_day": 4},
    }
