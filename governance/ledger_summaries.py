"""Counts of recorded decisions over a time window, for auditors: per person, per policy
rule, per agent. Counted from ledger entries (what was recorded, not what the live tables
say now), over a queryset the caller has already scoped to the person's units.

- Per person: the decisions people took on escalations (`escalation.approved`, with
  `edited` for edit-and-approve; `escalation.rejected`; `escalation.resolved`).
- Per agent and per rule: the gateway's decisions on agents' actions (`action.*` entries
  with `source` "gateway"), by effect; for rules, each matched rule of each decision, and
  the decisions no rule matched (denied by default).
"""

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import QuerySet

from governance.models import AuditEntry

__all__ = ["KINDS", "Summary", "summarise"]

EFFECTS = ("allow", "require_approval", "deny")
PERSON_VERBS = ("escalation.approved", "escalation.rejected", "escalation.resolved")
NO_RULE = "No rule matched (denied by default)"
EFFECT_LABELS = {"allow": "Allow", "require_approval": "Needs approval", "deny": "Deny"}


@dataclass(frozen=True)
class Summary:
    """A table: column headings, rows of cells (the first cell names the row), a total row;
    the columns from `first_count` on are counts."""

    kind: str
    title: str
    columns: tuple[str, ...]
    rows: list[tuple]
    total: tuple
    first_count: int = 1


def _gateway_decisions(entries: QuerySet[AuditEntry]):
    """(agent slug, entry data) of each gateway decision among `entries`."""
    return (
        entries.filter(verb__startswith="action.", data__source="gateway")
        .order_by()
        .values_list("actor_name", "data")
        .iterator(chunk_size=2000)
    )


def _effect(data: dict) -> str | None:
    effect = data.get("effect")
    return effect if effect in EFFECTS else None


def per_person(entries: QuerySet[AuditEntry]) -> Summary:
    """Each person's decisions on escalations, most active first."""
    counts: dict[str, Counter] = {}
    people = (
        entries.filter(actor_kind=AuditEntry.ActorKind.USER, verb__in=PERSON_VERBS)
        .order_by()
        .values_list("actor_name", "verb", "data")
        .iterator(chunk_size=2000)
    )
    for name, verb, data in people:
        kind = verb.removeprefix("escalation.")
        if kind == "approved" and (data or {}).get("edited"):
            kind = "edited"
        counts.setdefault(name, Counter())[kind] += 1
    kinds = ("approved", "edited", "rejected", "resolved")
    rows = [
        (name, *(c[k] for k in kinds), sum(c.values()))
        for name, c in sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    ]
    columns = ("Person", "Approved", "Edited and approved", "Rejected", "Resolved", "Decisions")
    return Summary("people", "Decisions per person", columns, rows, _total(rows, columns))


def per_agent(entries: QuerySet[AuditEntry]) -> Summary:
    """Each agent's gateway decisions by effect, busiest first."""
    counts: dict[str, Counter] = {}
    for agent, data in _gateway_decisions(entries):
        effect = _effect(data or {})
        if effect is not None:
            counts.setdefault(agent, Counter())[effect] += 1
    rows = [
        (agent, *(c[e] for e in EFFECTS), sum(c.values()))
        for agent, c in sorted(counts.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    ]
    columns = ("Agent", "Allowed", "Needed approval", "Denied", "Decisions")
    return Summary("agents", "Decisions per agent", columns, rows, _total(rows, columns))


def per_rule(entries: QuerySet[AuditEntry]) -> Summary:
    """Each matched rule with the effects of the decisions it took part in, most matched
    first; decisions that matched no rule are one row of their own."""
    counts: dict[tuple[str, str, str], Counter] = {}
    for _, data in _gateway_decisions(entries):
        data = data or {}
        effect = _effect(data)
        if effect is None:
            continue
        matched = [m for m in data.get("matched") or [] if isinstance(m, dict)]
        for rule in matched or [{"name": NO_RULE, "id": "", "effect": "deny"}]:
            rule_effect = str(rule.get("effect", ""))
            key = (
                str(rule.get("name", "")),
                str(rule.get("id", "")),
                EFFECT_LABELS.get(rule_effect, rule_effect),
            )
            tally = counts.setdefault(key, Counter())
            tally[effect] += 1
            tally["log_only"] += bool(rule.get("log_only"))
    rows = [
        (
            name,
            rule_id,
            rule_effect,
            *(c[e] for e in EFFECTS),
            c["log_only"],
            sum(c[e] for e in EFFECTS),
        )
        for (name, rule_id, rule_effect), c in sorted(
            counts.items(), key=lambda item: (-sum(item[1][e] for e in EFFECTS), item[0])
        )
    ]
    columns = (
        "Rule",
        "Rule id",
        "Rule's effect",
        "Decision: allowed",
        "Decision: needed approval",
        "Decision: denied",
        "Log-only matches",
        "Matches",
    )
    # One decision may match several rules: the total counts matches, not decisions.
    total = _total(rows, columns, first_number=3, label="All matches")
    return Summary("rules", "Decisions per policy rule", columns, rows, total, first_count=3)


def _total(
    rows: list[tuple], columns: tuple[str, ...], first_number: int = 1, label: str = "Total"
) -> tuple:
    """The total row: a label, blanks up to the first count column, then the column sums."""
    sums = [sum(row[i] for row in rows) for i in range(first_number, len(columns))]
    return (label, *([""] * (first_number - 1)), *sums)


KINDS: dict[str, Callable[[QuerySet[AuditEntry]], Summary]] = {
    "people": per_person,
    "rules": per_rule,
    "agents": per_agent,
}


def summarise(kind: str, entries: QuerySet[AuditEntry]) -> Summary:
    """The summary of `kind` (a key of KINDS) over `entries`, already scoped and windowed."""
    return KINDS[kind](entries)
