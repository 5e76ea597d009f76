"""Impact preview: re-decide recorded requests under a draft and show what would change.

Each recorded decision request of the window is decided twice on the same inputs (the
recorded facts, payload with sensitive fields hashed, and context including the limit
totals it saw): once by the policies published now and once with the draft in place of
its policy's published version. Differences are grouped by agent and business unit, the
loosening changes (deny → allow) and then the tightening ones (allow → deny) first.
"""

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import timedelta

from django.db.models import QuerySet
from django.utils import timezone

from governance import policies
from governance.models import DecisionRecord, PolicyVersion
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


def request_from_record(record: DecisionRecord) -> DecisionRequest:
    """The decision request a record describes (sensitive fields stay hashed)."""
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
        context=record.context,
    )


@dataclass
class Change:
    """Decisions that move from one effect to another, with where and a few examples."""

    before: str
    after: str
    count: int = 0
    by_agent: Counter = field(default_factory=Counter)
    by_business_unit: Counter = field(default_factory=Counter)
    examples: list = field(default_factory=list)  # DecisionRecord ids


@dataclass
class Impact:
    """What publishing a draft would have done to the window's recorded requests."""

    version_id: int
    days: int
    considered: int
    changed: int
    changes: list[Change]


def simulate(version: PolicyVersion, records: QuerySet[DecisionRecord], days: int = 7) -> Impact:
    """Re-decide `records` from the last `days` days under the draft `version`."""
    since = timezone.now() - timedelta(days=days)
    window = records.filter(created_at__gte=since).select_related("business_unit")
    current = policies.current_policy_set()
    draft = policies.draft_policy_set(version)
    changes: dict[tuple[str, str], Change] = defaultdict(lambda: Change("", ""))
    considered = 0
    for record in window.order_by("created_at").iterator(chunk_size=1000):
        considered += 1
        request = request_from_record(record)
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
