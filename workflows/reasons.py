"""Why a decision came out as it did, said plainly for the people who must act on it.

A recorded decision lists its matched rules and the reasons of those that set its effect,
in the same order (governance.pdp.engine); an L1 agent's allow turned into an approval
carries the engine's L1 reason. `plain_reason()` turns that into one sentence such as
"Needs approval: every action of an L1 (supervised) agent" or "Needs approval: amount
7,200 over the 5,000 limit per agent per day for role Procurement buyer", instead of the
engine's "allowed by rule ...; L1 supervised: ..." that reads as a contradiction.

An approval escalation keeps this sentence as its `reason` (workflows.inbox), which the
inbox row, the escalation page and the API show; the page also says it of the decision taken
again on an edited payload.
"""

from decimal import Decimal, InvalidOperation

from agents.models import AgentRole
from governance.models import DecisionRecord, Rule
from governance.pdp.engine import L1_REASON

__all__ = ["L1_PLAIN", "plain_reason"]

L1_PLAIN = "every action of an L1 (supervised) agent"
_LEAD = {"require_approval": "Needs approval", "allow": "Allowed", "deny": "Denied"}
# The engine's reason for a rule without its own (engine._VERBS), and what people read.
_DEFAULT = {
    "require_approval": ("approval required by rule {}", "rule “{}” asks for a person's approval"),
    "allow": ("allowed by rule {}", "rule “{}” allows it"),
    "deny": ("denied by rule {}", "rule “{}” denies it"),
}


def number(value) -> str:
    """A number as people write it: 7200 -> "7,200", 12.50 -> "12.5"."""
    try:
        amount = Decimal(str(value)).normalize()
    except InvalidOperation:
        return str(value)
    if amount == amount.to_integral_value():
        return f"{int(amount):,}"
    return f"{amount:,f}"


def _limit(rule: Rule, total, roles: dict[str, str]) -> str:
    """ "amount 7,200 over the 5,000 limit per agent per day for role Procurement buyer"."""
    threshold = number(rule.soft_limit)
    shown = "" if total is None else number(total)
    if rule.limit_metric == Rule.LimitMetric.PAYLOAD_SUM:
        what = f"{rule.limit_field.rsplit('.', 1)[-1]} {shown}"
    elif rule.limit_metric == Rule.LimitMetric.SPEND:
        what = f"spend {shown}"
    else:  # actions, tokens
        what = f"{shown} {rule.limit_metric}"
    what = what.strip()
    per = "agent" if rule.limit_scope == Rule.LimitScope.AGENT else "business unit"
    text = f"{what} over the {threshold} limit per {per} per {rule.limit_window}"
    if rule.roles:
        names = [roles.get(slug, slug) for slug in rule.roles]
        text += f" for role{'s' if len(names) > 1 else ''} {', '.join(names)}"
    if rule.reason:
        text += f" ({rule.reason})"
    return text


def _soft_limits(record: DecisionRecord, matched: list[dict]) -> dict[str, str]:
    """Matched soft-limit rule id ("12:soft") -> its plain text, from the stored rules and
    the counters' totals the decision saw (one query, none without soft limits)."""
    ids = {m["id"]: m["id"].partition(":")[0] for m in matched if m["id"].endswith(":soft")}
    if not ids:
        return {}
    rules = {str(rule.pk): rule for rule in Rule.objects.filter(pk__in=list(ids.values()))}
    slugs = {slug for rule in rules.values() for slug in rule.roles}
    roles = dict(AgentRole.objects.filter(slug__in=slugs).values_list("slug", "name"))
    totals = (record.context or {}).get("limits") or {}
    return {
        matched_id: _limit(rules[rule_id], totals.get(rule_id), roles)
        for matched_id, rule_id in ids.items()
        if rule_id in rules
    }


def plain_reason(record: DecisionRecord) -> str:
    """One sentence naming what set the decision's effect: each enforced rule with that
    effect (a soft limit by its numbers, another rule by its own reason, else by its name)
    and, for an L1 agent, its level. Decisions no rule explains (a denied grant, an
    evaluation error, a kill switch) keep the decision point's reasons."""
    effect = str(record.effect)
    reasons = [str(reason) for reason in record.reasons or []]
    lead = _LEAD.get(effect, effect)
    if effect == "require_approval" and L1_REASON in reasons:
        return f"{lead}: {L1_PLAIN}"  # the rules allowed it; the level asks for a person
    hits = [
        {"id": str(m.get("id", "")), "name": str(m.get("name", ""))}
        for m in record.matched or []
        if m.get("effect") == effect and not m.get("log_only")
    ]
    if len(reasons) < len(hits) or effect not in _DEFAULT:  # not as the engine records them
        return f"{lead}: {'; '.join(reasons)}" if reasons else lead
    engine_text, plain_text = _DEFAULT[effect]
    limits = _soft_limits(record, hits) if effect == "require_approval" else {}
    causes = []
    for hit, reason in zip(hits, reasons, strict=False):
        if hit["id"] in limits:
            causes.append(limits[hit["id"]])
        elif reason == engine_text.format(hit["name"]):
            causes.append(plain_text.format(hit["name"]))
        else:
            causes.append(reason)
    causes += reasons[len(hits) :]  # after the rules: fail closed, nothing allows it
    return f"{lead}: {'; '.join(causes)}" if causes else lead
