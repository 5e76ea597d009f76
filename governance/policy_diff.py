"""What publishing a draft changes: its rules against the published version's, field by field.

A new draft's copy of a rule keeps the rule's `key`, so rules are matched by key: a key in
the draft only is an added rule, in the published version only a removed one, in both a
rule whose differing fields are listed (an SLA in human units, lists as "a, b").
"""

from dataclasses import dataclass, field
from typing import Any

from governance.durations import format_duration
from governance.models import PolicyVersion, Rule
from governance.policies import RULE_FIELDS

__all__ = ["FieldChange", "RuleChange", "VersionDiff", "diff_versions", "shown"]


@dataclass(frozen=True, slots=True)
class FieldChange:
    """One field of a rule, before and after, as a person reads them."""

    name: str
    label: str
    before: str
    after: str


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A rule that publishing adds, removes or changes (`fields`: only for a change)."""

    name: str
    kind: str  # "added", "removed" or "changed"
    rule: Rule
    fields: tuple[FieldChange, ...] = ()


@dataclass
class VersionDiff:
    """The draft against the published version (None when the policy has none)."""

    draft: PolicyVersion
    published: PolicyVersion | None
    changes: list[RuleChange] = field(default_factory=list)

    def of_kind(self, kind: str) -> list[RuleChange]:
        """The changes of one kind, in the draft's (or, for removals, the old) order."""
        return [change for change in self.changes if change.kind == kind]

    @property
    def added(self) -> list[RuleChange]:
        return self.of_kind("added")

    @property
    def removed(self) -> list[RuleChange]:
        return self.of_kind("removed")

    @property
    def changed(self) -> list[RuleChange]:
        return self.of_kind("changed")

    @property
    def empty(self) -> bool:
        return not self.changes


def shown(name: str, value: Any) -> str:
    """A rule field's value as the admin shows it."""
    if value in (None, "", []):
        return "-"
    if name == "sla_seconds":
        return format_duration(int(value))
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _label(name: str) -> str:
    return "SLA" if name == "sla_seconds" else str(Rule._meta.get_field(name).verbose_name)


def _field_changes(before: Rule, after: Rule) -> tuple[FieldChange, ...]:
    out = []
    for name in RULE_FIELDS:
        old, new = getattr(before, name), getattr(after, name)
        if old != new:
            out.append(FieldChange(name, _label(name), shown(name, old), shown(name, new)))
    return tuple(out)


def diff_versions(draft: PolicyVersion) -> VersionDiff:
    """The draft's rules against its policy's published version's rules."""
    published = draft.policy.versions.filter(state=PolicyVersion.State.PUBLISHED).first()
    diff = VersionDiff(draft, published)
    old = {rule.key: rule for rule in published.rules.all()} if published else {}
    new = list(draft.rules.all())
    for rule in new:
        before = old.get(rule.key)
        if before is None:
            diff.changes.append(RuleChange(rule.name, "added", rule))
            continue
        fields = _field_changes(before, rule)
        if fields:
            diff.changes.append(RuleChange(rule.name, "changed", rule, fields))
    kept = {rule.key for rule in new}
    for key, rule in old.items():
        if key not in kept:
            diff.changes.append(RuleChange(rule.name, "removed", rule))
    return diff
