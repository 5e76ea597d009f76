"""A recorded decision: its inputs (sensitive fields hashed), outcome and explanation, the
policy versions that decided it by name and number, the limit counters it saw by rule,
and (through governance.links) its action, escalation and queue."""

import json
from decimal import Decimal

from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from governance import links
from governance.durations import human_duration
from governance.models import AuditEntry, DecisionRecord, PolicyVersion, Rule

__all__ = ["decision_detail"]


def _versions(record: DecisionRecord) -> list[PolicyVersion]:
    """The policy versions that decided, in the order the record names them."""
    ids = [int(pk) for pk in record.policy_version_ids if str(pk).isdigit()]
    found = PolicyVersion.objects.select_related("policy").in_bulk(ids)
    return [found[pk] for pk in ids if pk in found]


def _number(value) -> str:
    """A counter or threshold without trailing zeros (12, 7200.5)."""
    number = Decimal(str(value)).normalize()
    return f"{number:f}"


def _limits(record: DecisionRecord) -> list[dict]:
    """Each limit counter the decision saw: the rule's name, what it counts, the total
    used (this action included) and its soft and hard thresholds."""
    totals = (record.context or {}).get("limits") or {}
    if not isinstance(totals, dict):
        return []
    ids = [int(pk) for pk in totals if str(pk).isdigit()]
    rules = Rule.objects.select_related("version__policy").in_bulk(ids)
    rows = []
    for pk in ids:
        rule = rules.get(pk)
        if rule is None:
            continue
        counted = rule.get_limit_metric_display()
        if rule.limit_metric == Rule.LimitMetric.PAYLOAD_SUM:
            counted = f"sum of {rule.limit_field}"
        used = totals[str(pk)]
        over = (rule.hard_limit is not None and Decimal(str(used)) > rule.hard_limit) or (
            rule.soft_limit is not None and Decimal(str(used)) > rule.soft_limit
        )
        rows.append(
            {
                "name": rule.name,
                "policy": f"{rule.version.policy.name} v{rule.version.number}",
                "counts": f"{counted}, {rule.get_limit_scope_display().lower()}, "
                f"{rule.get_limit_window_display().lower()}",
                "used": _number(used),
                "soft": _number(rule.soft_limit) if rule.soft_limit is not None else "",
                "hard": _number(rule.hard_limit) if rule.hard_limit is not None else "",
                "over": over,
            }
        )
    return rows


def decision_detail(request: HttpRequest, decision_id) -> HttpResponse:
    record = get_object_or_404(
        DecisionRecord.objects.select_related("business_unit").for_person(request.user),
        pk=decision_id,
    )
    # A what-if decision has an entry of its own; the gateway records its decision in the
    # action's entry.
    entry = (
        AuditEntry.objects.filter(
            Q(object_type="governance.decisionrecord", object_id=str(record.pk))
            | Q(data__decision_id=str(record.pk))
        )
        .order_by("id")
        .first()
    )
    return render(
        request,
        "governance/decision_detail.html",
        {
            "record": record,
            "entry": entry,
            "sla": human_duration(record.sla_seconds),
            "versions": _versions(record),
            "limits": _limits(record),
            "facts": links.facts_for(record, request.user),
            "payload": json.dumps(record.payload, indent=2, sort_keys=True),
            "context_json": json.dumps(record.context, indent=2, sort_keys=True),
        },
    )
