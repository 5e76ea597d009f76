"""Impact preview: re-decide recorded requests under a draft and show what would change.

Each recorded decision request of the window is decided twice on the same inputs (the
recorded facts, payload with sensitive fields hashed, and context including the limit
totals it saw): once by the policies published now and once with the draft in place of
its policy's published version. Differences are grouped by agent and business unit, the
loosening changes (deny → allow) and then the tightening ones (allow → deny) first. Each
changed decision is explained (`explain`): the evaluation errors the draft has or no longer
has, and the enforced rules it now matches or no longer matches, by name and effect.

A record holds its limit totals under the ids of the rules in force then, and every new
version's copy of a rule has a new id. So each limit rule of both sets is given the
recorded total of the rule that shares its counter (same policy, rule key, metric, field,
scope and window: what governance.limits counts by), as it would once published; a limit
with no such total starts afresh, its total only this action's amount (reported spend and
tokens are not recorded, so they count 0).
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from governance import limits, policies
from governance.limits import LimitSpec
from governance.models import DecisionRecord, PolicyVersion, Rule
from governance.pdp import ActionFacts, AgentFacts, Decision, DecisionRequest

__all__ = ["Change", "Example", "Impact", "explain", "request_from_record", "simulate"]

# How far each change moves an action; the most consequential are listed first.
SEVERITY = {
    ("deny", "allow"): 0,
    ("require_approval", "allow"): 1,
    ("allow", "deny"): 2,
    ("require_approval", "deny"): 3,
    ("allow", "require_approval"): 4,
    ("deny", "require_approval"): 5,
}
MAX_EXAMPLES = 20
# The decision point names a failing rule "rule <id> (<name>): <message>"; ids differ
# between a published rule and its draft copy, so errors are compared by name and message.
_RULE_ERROR = re.compile(r"^rule \S+ \((?P<name>.*)\): (?P<message>.*)$", re.DOTALL)


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


def _error(text: str) -> str:
    found = _RULE_ERROR.match(text)
    return f"'{found['name']}': {found['message']}" if found else text


def _enforced(decision: Decision) -> dict[str, str]:
    return {m.name: str(m.effect) for m in decision.matched if not m.log_only}


def explain(before: Decision, after: Decision) -> tuple[str, ...]:
    """Why `after` (the draft) decides otherwise than `before` (the published set): the
    evaluation errors it has or no longer has, then the enforced rules it now matches, no
    longer matches, or that now have another effect, by rule name."""
    old_errors = [_error(e) for e in before.errors]
    new_errors = [_error(e) for e in after.errors]
    causes = [f"evaluation error in {e}" for e in new_errors if e not in old_errors]
    causes += [f"no longer fails: {e}" for e in old_errors if e not in new_errors]
    old, new = _enforced(before), _enforced(after)
    for name, effect in new.items():
        if name not in old:
            causes.append(f"now matches '{name}' ({effect})")
        elif old[name] != effect:
            causes.append(f"'{name}' now says {effect} (was {old[name]})")
    causes += [
        f"no longer matches '{name}' ({effect})" for name, effect in old.items() if name not in new
    ]
    return tuple(causes) or ("the same rules match; their combination differs",)


@dataclass(frozen=True)
class Example:
    """One changed decision: the recorded request, why it changes, and what the draft
    would decide."""

    record_id: str
    agent: str
    action: str
    because: tuple[str, ...]
    reasons: tuple[str, ...]
    route: str | None


@dataclass
class Change:
    """Decisions that move from one effect to another, with where, why and examples."""

    before: str
    after: str
    count: int = 0
    by_agent: Counter = field(default_factory=Counter)
    by_business_unit: Counter = field(default_factory=Counter)
    by_cause: Counter = field(default_factory=Counter)
    examples: list[Example] = field(default_factory=list)

    def cause_counts(self) -> list[tuple[str, int]]:
        """(cause, changed decisions), the most common first."""
        return self.by_cause.most_common()

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
        published, proposed = current.decide(request), draft.decide(request)
        before, after = str(published.effect), str(proposed.effect)
        if before == after:
            continue
        because = explain(published, proposed)
        change = changes[(before, after)]
        change.before, change.after = before, after
        change.count += 1
        change.by_agent[record.agent_slug] += 1
        change.by_business_unit[record.business_unit.slug] += 1
        change.by_cause.update(because)
        if len(change.examples) < MAX_EXAMPLES:
            change.examples.append(
                Example(
                    str(record.pk),
                    record.agent_slug,
                    record.action,
                    because,
                    proposed.reasons,
                    proposed.route,
                )
            )
    ordered = sorted(changes.values(), key=lambda c: SEVERITY.get((c.before, c.after), 9))
    return Impact(version.pk, days, considered, sum(c.count for c in ordered), ordered)
