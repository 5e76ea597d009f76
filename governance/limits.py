"""Limits and budgets as rules: counters per agent or business unit over a time window.

A policy rule with `limit_metric` set becomes a LimitSpec. Before a decision, the caller
counts the action against every limit that applies (atomically, in the shared cache) and
passes the totals to the decision point as `context.limits["<rule id>"]`; the compiled
rules then require approval over the soft limit and deny over the hard one. "Over" means
strictly greater: with a hard limit of 100 actions per hour, the 100th action of the hour
passes and the 101st is denied.

    specs = applicable(all_specs, agent.slug, role, unit, level, action)
    with counted(specs, agent.slug, unit, action, payload, reported, now=now) as counting:
        limits = counting.totals
        context = {**context_for(agent.slug, unit, now, counts=limits.activity), "limits": limits}
        ... decide ...; if denied: counting.refund()   (an error in the block refunds too)

How counters stay exact: amounts are kept as integers in 1/10000 units (the thresholds'
precision) and added with INCRBY in one Lua script per action (atomic), so concurrent requests
in any number of processes each get their own, distinct new total. A counter lives in a
bucket of its window
(`limit:{policy}:{rule key}:{metric}:{field}:{agent|business_unit}:{slug}:{window}:{bucket}`)
that expires shortly after the window ends; windows follow settings.TIME_ZONE (a "day" is a
local calendar day). Counters are keyed by the rule's key, which a policy's new versions
copy, not by its id: publishing a new version keeps counting a limit whose metric, field,
scope and window are unchanged (new thresholds, patterns or conditions included), and starts
afresh one whose meaning changed. Without Redis (single-process tests and commands) the
cache's own add/incr does the same within one process.
"""

import functools
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.utils import timezone

from governance.pdp import pattern_matches

__all__ = [
    "SCALE",
    "WINDOW_SECONDS",
    "Counting",
    "LimitSpec",
    "Totals",
    "amount_of",
    "applicable",
    "context_for",
    "count",
    "counted",
    "exceeded",
    "refund",
    "totals",
]

SCALE = 10_000  # counters hold amounts in 1/10000 units, so Redis adds integers exactly
WINDOW_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# A bucket outlives its window by this much, so a refund or a read from a process whose
# clock lags a little still finds it.
_GRACE_SECONDS = 120
REPORTED_METRICS = ("spend", "tokens")


@dataclass(frozen=True, slots=True)
class LimitSpec:
    """One limit: what it counts, for whom, over which window, and its thresholds."""

    rule_id: int  # the stored rule: totals are reported under it (context.limits["<id>"])
    policy_id: int
    rule_key: str  # Rule.key: the same in every version of the policy that copied the rule
    action_pattern: str
    metric: str  # "actions", "payload_sum", "spend" or "tokens"
    scope: str  # "agent" or "business_unit"
    window: str  # "minute", "hour" or "day"
    field: str = ""  # the payload field a payload_sum limit adds up
    soft: Decimal | None = None
    hard: Decimal | None = None
    suspend_on_hard: bool = False
    roles: frozenset[str] = frozenset()
    business_units: frozenset[str] = frozenset()
    agents: frozenset[str] = frozenset()
    autonomy_levels: frozenset[int] = frozenset()


class Totals(dict[str, float]):
    """Rule id (as a string) to the counter's total; `notes` say which values counted as 0
    because the payload or the report did not hold a usable number. From count(),
    `activity` holds the agent's and business unit's action counts BEFORE the counted
    action (the `counts` of context_for(), without a second round trip)."""

    notes: tuple[str, ...] = ()
    activity: dict[str, int] | None = None


def applicable(
    specs: Iterable[LimitSpec],
    agent_slug: str,
    role: str,
    business_unit: str,
    autonomy_level: int,
    action: str,
) -> list[LimitSpec]:
    """The specs whose scope (empty = everyone) and action pattern cover this action."""
    return [
        spec
        for spec in specs
        if (not spec.agents or agent_slug in spec.agents)
        and (not spec.roles or role in spec.roles)
        and (not spec.business_units or business_unit in spec.business_units)
        and (not spec.autonomy_levels or autonomy_level in spec.autonomy_levels)
        and pattern_matches(spec.action_pattern, action)
    ]


def _number(value: Any) -> Decimal | None:
    """A finite number from a JSON value (numbers and numeric strings), else None."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _field(payload: Mapping[str, Any], path: str) -> Any:
    """payload[path], or the dotted path `a.b` through nested objects; None when absent."""
    if path in payload:
        return payload[path]
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def amount_of(
    spec: LimitSpec, payload: Mapping[str, Any], reported: Mapping[str, Any]
) -> tuple[Decimal, str]:
    """What this action adds to `spec`'s counter, and a note when a value counted as 0.

    actions: 1. payload_sum: the absolute value of payload[field] (money moved either way
    counts). spend/tokens: what the agent reported (default 0; negative counts as 0).
    """
    if spec.metric == "actions":
        return Decimal(1), ""
    if spec.metric == "payload_sum":
        raw = _field(payload, spec.field)
        number = _number(raw)
        if number is None:
            what = "missing" if raw is None else "not a number"
            return Decimal(0), f"rule {spec.rule_id}: payload field {spec.field!r} is {what}"
        return abs(number), ""
    if spec.metric in REPORTED_METRICS:
        if spec.metric not in reported:
            return Decimal(0), ""
        number = _number(reported[spec.metric])
        if number is None or number < 0:
            return Decimal(0), f"rule {spec.rule_id}: reported {spec.metric} is not a number >= 0"
        return number, ""
    return Decimal(0), f"rule {spec.rule_id}: unknown metric {spec.metric!r}"


def _scaled(amount: Decimal) -> int:
    return int((amount * SCALE).to_integral_value(ROUND_HALF_UP))


def _now(now: datetime | None) -> datetime:
    return timezone.localtime(now or timezone.now())


def _bucket(window: str, now: datetime) -> tuple[int, int]:
    """The window's bucket number at `now` (local time) and the seconds its key must live."""
    seconds = WINDOW_SECONDS[window]
    offset = now.utcoffset()
    local = int(now.timestamp()) + (int(offset.total_seconds()) if offset else 0)
    bucket, into = divmod(local, seconds)
    return bucket, seconds - into + _GRACE_SECONDS


def _subject(scope: str, agent_slug: str, business_unit: str) -> str:
    return f"business_unit:{business_unit}" if scope == "business_unit" else f"agent:{agent_slug}"


def _limit_key(spec: LimitSpec, agent_slug: str, business_unit: str, now: datetime):
    """The counter's cache key and ttl. It names the limit by its policy and rule key (not
    the rule id, which each version changes) and by what its total means (metric and field,
    scope, window), so only a new meaning, not a new threshold, starts it afresh."""
    bucket, ttl = _bucket(spec.window, now)
    subject = _subject(spec.scope, agent_slug, business_unit)
    limit = f"{spec.policy_id}:{spec.rule_key}:{spec.metric}:{spec.field}"
    return f"limit:{limit}:{subject}:{spec.window}:{bucket}", ttl


# The recent counts every decision's context carries, whatever the policies say.
_ACTIVITY = (
    ("agent_hour", "agent", "hour"),
    ("agent_day", "agent", "day"),
    ("bu_hour", "business_unit", "hour"),
    ("bu_day", "business_unit", "day"),
)


def _activity_keys(agent_slug: str, business_unit: str, now: datetime):
    """(context name, cache key, ttl) of the agent's and business unit's action counters."""
    keys = []
    for name, scope, window in _ACTIVITY:
        bucket, ttl = _bucket(window, now)
        keys.append(
            (name, f"count:{_subject(scope, agent_slug, business_unit)}:{window}:{bucket}", ttl)
        )
    return keys


def _redis():
    """The default cache's Redis client, or None when the cache is not Redis."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    return backend._cache.get_client(write=True)


# Add to every counter and (re)set its expiry, atomically: one command and one reply
# instead of a MULTI/EXEC of two commands per counter.
_ADD_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  out[i] = redis.call('INCRBY', key, ARGV[2 * i - 1])
  redis.call('EXPIRE', key, ARGV[2 * i])
end
return out
"""


@functools.lru_cache(maxsize=8)
def _script(client, source: str):
    """The registered script (EVALSHA, loaded again by redis-py if the server lost it)."""
    return client.register_script(source)


def _add(increments: list[tuple[str, int, int]]) -> list[int]:
    """Add each (key, amount, ttl) atomically; the new totals in the same order."""
    client = _redis()
    if client is not None:
        keys = [cache.make_and_validate_key(key) for key, _, _ in increments]
        args = [value for _, amount, ttl in increments for value in (amount, ttl)]
        return [int(total) for total in _script(client, _ADD_LUA)(keys=keys, args=args)]
    totals = []
    for key, amount, ttl in increments:
        while True:
            cache.add(key, 0, ttl)
            try:
                totals.append(cache.incr(key, amount))
                break
            except ValueError:  # expired between add and incr: create it again
                continue
    return totals


# Take back at most what is there, and never recreate a bucket that has expired.
_REFUND_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then
    local left = redis.call('DECRBY', key, ARGV[i])
    if left < 0 then
      redis.call('SET', key, 0, 'KEEPTTL')
      left = 0
    end
    out[i] = left
  else
    out[i] = 0
  end
end
return out
"""


def _take_back(decrements: list[tuple[str, int]]) -> list[int]:
    client = _redis()
    if client is not None:
        keys = [cache.make_and_validate_key(key) for key, _ in decrements]
        script = _script(client, _REFUND_LUA)
        return [int(left) for left in script(keys=keys, args=[a for _, a in decrements])]
    left = []
    for key, amount in decrements:
        try:
            value = cache.decr(key, amount)
        except ValueError:  # the bucket expired: nothing to take back
            left.append(0)
            continue
        if value < 0:
            cache.incr(key, -value)
            value = 0
        left.append(value)
    return left


def count(
    specs: Iterable[LimitSpec],
    agent_slug: str,
    business_unit: str,
    action: str,
    payload: Mapping[str, Any],
    reported: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> Totals:
    """Count one action against `specs` (normally applicable()'s answer; specs whose pattern
    does not cover `action` are skipped) and against the agent's and business unit's activity
    counters, in one atomic step. Returns each limit's total AFTER this action; pass the same
    `now` to refund() if the action is then denied.
    """
    moment = _now(now)
    reported = reported or {}
    increments, ids, notes = [], [], []
    for spec in specs:
        if not pattern_matches(spec.action_pattern, action):
            continue
        amount, note = amount_of(spec, payload, reported)
        if note:
            notes.append(note)
        key, ttl = _limit_key(spec, agent_slug, business_unit, moment)
        increments.append((key, _scaled(amount), ttl))
        ids.append(str(spec.rule_id))
    activity_keys = _activity_keys(agent_slug, business_unit, moment)
    activity = [(key, 1, ttl) for _, key, ttl in activity_keys]
    new_totals = _add(increments + activity)
    result = Totals(
        (rule, total / SCALE) for rule, total in zip(ids, new_totals[: len(ids)], strict=True)
    )
    result.notes = tuple(notes)
    result.activity = {
        name: total - 1
        for (name, _, _), total in zip(activity_keys, new_totals[len(ids) :], strict=True)
    }
    return result


def refund(
    specs: Iterable[LimitSpec],
    agent_slug: str,
    business_unit: str,
    action: str,
    payload: Mapping[str, Any],
    reported: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> Totals:
    """Undo count() for an action that ended up denied or rejected, so that attempts which
    never ran do not consume money, spend or token budgets. The "actions" metric (and the
    activity counts of the context) are NOT refunded: they count attempts, so an agent that
    keeps retrying denied actions still runs into its rate limits. Pass count()'s `now`.
    Returns the totals left for the refunded limits; a bucket never goes below 0.
    """
    moment = _now(now)
    reported = reported or {}
    decrements, ids = [], []
    for spec in specs:
        if spec.metric == "actions" or not pattern_matches(spec.action_pattern, action):
            continue
        amount = _scaled(amount_of(spec, payload, reported)[0])
        if amount:
            key, _ = _limit_key(spec, agent_slug, business_unit, moment)
            decrements.append((key, amount))
            ids.append(str(spec.rule_id))
    if not decrements:
        return Totals()
    return Totals(
        (rule, left / SCALE) for rule, left in zip(ids, _take_back(decrements), strict=True)
    )


class Counting:
    """One action counted against its limits (see counted()): the totals after it, and the
    refund that takes its amounts back, at most once."""

    __slots__ = ("_refund", "refunded", "totals")

    def __init__(self, totals: Totals, refund_args: tuple, now: datetime | None):
        self.totals = totals
        self.refunded = False
        self._refund = (refund_args, now)

    @classmethod
    def nothing(cls) -> "Counting":
        """An action that was not counted (nothing to take back)."""
        counting = cls(Totals(), (), None)
        counting.refunded = True
        return counting

    def refund(self) -> None:
        """Take back what the action consumed (see refund()); a second call does nothing."""
        if not self.refunded:
            self.refunded = True
            args, now = self._refund
            refund(*args, now=now)


@contextmanager
def counted(
    specs: list[LimitSpec],
    agent_slug: str,
    business_unit: str,
    action: str,
    payload: Mapping[str, Any],
    reported: Mapping[str, Any] | None = None,
    *,
    now: datetime | None = None,
) -> Iterator[Counting]:
    """Count one action against `specs` (see count()) for the block, which gets the
    Counting. A denied action's block calls `refund()`; a block that raises is refunded
    on its way out, so an action that was never recorded consumes no budget."""
    args = (specs, agent_slug, business_unit, action, payload, reported)
    counting = Counting(count(*args, now=now), args, now)
    try:
        yield counting
    except BaseException:
        counting.refund()
        raise


def totals(
    specs: Iterable[LimitSpec],
    agent_slug: str,
    business_unit: str,
    *,
    now: datetime | None = None,
) -> Totals:
    """Each limit's current total for this agent and business unit, without counting."""
    moment = _now(now)
    keyed = {
        str(spec.rule_id): _limit_key(spec, agent_slug, business_unit, moment)[0] for spec in specs
    }
    found = cache.get_many(keyed.values())
    return Totals((rule, int(found.get(key, 0)) / SCALE) for rule, key in keyed.items())


def exceeded(spec: LimitSpec, total: float | Decimal) -> str:
    """ "hard" when `total` is over the hard limit, "soft" over the soft one, else ""."""
    value = Decimal(str(total))
    if spec.hard is not None and value > spec.hard:
        return "hard"
    if spec.soft is not None and value > spec.soft:
        return "soft"
    return ""


def context_for(
    agent_slug: str,
    business_unit: str,
    now: datetime | None = None,
    *,
    counts: dict[str, int] | None = None,
) -> dict:
    """The `context` of a decision: local hour, minute, weekday (0 = Monday) and the agent's
    and business unit's actions this hour and today, as counted by count() before the
    current action (read from the cache unless `counts`, count()'s `activity`, is given).
    Callers add `limits` from count()."""
    moment = _now(now)
    if counts is None:
        keys = _activity_keys(agent_slug, business_unit, moment)
        found = cache.get_many([key for _, key, _ in keys])
        counts = {name: int(found.get(key, 0)) for name, key, _ in keys}
    return {
        "hour": moment.hour,
        "minute": moment.minute,
        "weekday": moment.weekday(),
        "counts": counts,
    }
