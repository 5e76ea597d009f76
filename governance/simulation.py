"""Impact preview: re-decide recorded requests under a draft and show what would change.

Each recorded decision request of the window is decided twice on the same inputs (the
recorded facts, payload with sensitive fields hashed, and context including the limit
totals it saw): once by the policies published now and once with the draft in place of
its policy's published version. Differences are grouped by agent and business unit, the
loosening changes (deny → allow) and then the tightening ones (allow → deny) first.

A record holds its limit totals under the ids of the rules in force then, and every new
version's copy of a rule has a new id. So each limit rule of both sets is given the
recorded total of the rule that shares its counter (same policy, rule key, metric, field,
scope and window: what governance.limits counts by), as it would once published; a limit
with no such total starts afresh, its total only this action's amount (reported spend and
tokens are not recorded, so they count 0).
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from governance import limits, policies
from governance.limits import LimitSpec
from governance.models import DecisionRecord, PolicyVersion, Rule
from governance.pdp import ActionFacts, AgentFacts, DecisionRequest

__all__ = ["Change", "Impact", "request_from_record", "simulate"]

# How far each change moves an action; the most consequential are listed first.
SEVERITY = {
    ("deny", "allow"): 0,
    ("require_approval", "allow"): 1,
    ("allow", "deny"): 2,
    ("require_approval", "deny"): 3,
    ("allow", "require_approval"): 4,
    ("deny", "require_approval"): 5,
}
MAX_EXAMPLES = 5


def request_from_record(record: DecisionRecord, totals: dict | None = None) -> DecisionRequest:
    """The decision request a record describes (sensitive fields stay hashed); with
    `totals`, these limit totals in place of the recorded ones."""
    context = record.context if totals is None else {**record.context, "limits": totals}
    return DecisionRequest(
        agent=AgentFacts(
            slug=record.agent_slug,
            role=record.role,
            business_unit=record.business_unit.slug,
            autonomy_level=record.autonomy_level,
            capabilities=tuple(record.capabilities),
            granted_patterns=tuple(record.granted_patterns),
        ),
        action=ActionFacts(
            name=record.action,
            data_classification=record.data_classification,
            risk_tier=record.risk_tier,
        ),
        payload=record.payload,
        context=context,
    )


def _counter(spec: LimitSpec) -> tuple:
    """Which counter a limit's total comes from (limits._limit_key without whom and when):
    the same for a rule and its copies in later versions while its meaning is unchanged."""
    return (spec.policy_id, spec.rule_key, spec.metric, spec.field, spec.scope, spec.window)


def _recorded_totals(record: DecisionRecord, counters: dict[str, tuple | None]) -> dict:
    """The limit totals `record` holds, by counter. `counters` remembers each recorded rule
    id's counter (None for a rule that is gone) across the records of one simulation."""
    recorded = record.context.get("limits") or {}
    missing = [rule_id for rule_id in recorded if rule_id not in counters]
    if missing:
        counters.update(dict.fromkeys(missing))
        rules = Rule.objects.filter(pk__in=[int(i) for i in missing if i.isdigit()])
        for rule in rules.select_related("version"):
            counters[str(rule.pk)] = (
                rule.version.policy_id,
                rule.key.hex,
                rule.limit_metric,
                rule.limit_field,
                rule.limit_scope,
                rule.limit_window,
            )
    return {counters[i]: total for i, total in recorded.items() if counters[i] is not None}


def _totals(specs: tuple[LimitSpec, ...], record: DecisionRecord, recorded: dict) -> dict:
    """Each limit rule's total for `record` by rule id: its counter's recorded total, else
    a fresh count of this action alone."""
    totals = {}
    for spec in specs:
        total = recorded.get(_counter(spec))
        if total is None:
            total = float(limits.amount_of(spec, record.payload, {})[0])
        totals[str(spec.rule_id)] = total
    return totals


@dataclass
class Change:
    """Decisions that move from one effect to another, with where and a few examples."""

    before: str
    after: str
    count: int = 0
    by_agent: Counter = field(default_factory=Counter)
    by_business_unit: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)  # DecisionRecord ids

    def agent_counts(self) -> list[tuple[str, int]]:
        """(agent slug, changes), the most changes first."""
        return self.by_agent.most_common()

    def business_unit_counts(self) -> list[tuple[str, int]]:
        """(business unit slug, changes), the most changes first."""
        return self.by_business_unit.most_common()


@dataclass
class Impact:
    """What publishing a draft would have done to the window's recorded requests."""

    version_id: int
    days: int
    considered: int
    changed: int
    changes: list[Change]


def simulate(version: PolicyVersion, records: QuerySet[DecisionRecord], days: int = 7) -> Impact:
    """Re-decide `records` from the last `days` days under the draft `version`, both sides
    seeing each limit's recorded total whichever version's rule id it was recorded under."""
    since = timezone.now() - timedelta(days=days)
    window = records.filter(created_at__gte=since).select_related("business_unit")
    current = policies.current_policy_set()
    draft = policies.draft_policy_set(version)
    specs = (*policies.current_limit_specs(), *policies.limit_specs([version]))
    counters: dict[str, tuple | None] = {}
    changes: dict[tuple[str, str], Change] = defaultdict(lambda: Change("", ""))
    considered = 0
    for record in window.order_by("created_at").iterator(chunk_size=1000):
        considered += 1
        totals = _totals(specs, record, _recorded_totals(record, counters))
        request = request_from_record(record, totals)
        before = str(current.decide(request).effect)
        after = str(draft.decide(request).effect)
        if before == after:
            continue
        change = changes[(before, after)]
        change.before, change.after = before, after
        change.count += 1
        change.by_agent[record.agent_slug] += 1
        change.by_business_unit[record.business_unit.slug] += 1
        if len(change.examples) < MAX_EXAMPLES:
            change.examples.append(str(record.pk))
    ordered = sorted(changes.values(), key=lambda c: SEVERITY.get((c.before, c.after), 9))
    return Impact(version.pk, days, considered, sum(c.count for c in ordered), ordered)
