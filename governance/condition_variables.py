"""What a rule's condition may read: the variables and their fields, offered while editing.

`payload` fields come from the JSON Schemas of the action types the rule's pattern covers,
read through the app registry (governance imports no other app; the lookup happens when a
form asks, never at import). `agent`, `action` and `context` are the decision point's own.
"""

from dataclasses import dataclass
from typing import Any

from django.apps import apps

from governance.pdp import pattern_matches
from governance.pdp.conditions import ACTION_FIELDS, AGENT_FIELDS

__all__ = ["Variable", "condition_variables"]

AGENT_HELP = {
    "slug": "the agent's slug",
    "role": "its role's slug",
    "business_unit": "its business unit's slug",
    "level": "autonomy level, 0-3",
    "capabilities": "list of capability names",
}
ACTION_HELP = {
    "name": "the action type, such as erp.purchase_order.create",
    "data_classification": "public, internal, confidential or restricted",
    "risk_tier": "low, medium or high",
}
CONTEXT_HELP = {
    "hour": "local hour, 0-23",
    "minute": "0-59",
    "weekday": "0 = Monday … 6 = Sunday",
    "counts.agent_hour": "this agent's actions this hour, before this one",
    "counts.agent_day": "this agent's actions today",
    "counts.bu_hour": "the business unit's actions this hour",
    "counts.bu_day": "the business unit's actions today",
}
MAX_DEPTH = 3


@dataclass(frozen=True, slots=True)
class Variable:
    """One readable field: its CEL path, its type as far as known, and a word on it."""

    path: str
    type: str = ""
    help: str = ""


def _schema_fields(schema: Any, prefix: str, depth: int = 0) -> list[Variable]:
    if not isinstance(schema, dict) or depth >= MAX_DEPTH:
        return []
    out = []
    for name, spec in sorted((schema.get("properties") or {}).items()):
        if not isinstance(spec, dict):
            continue
        kind = spec.get("type", "")
        kind = "/".join(kind) if isinstance(kind, list) else str(kind)
        path = f"{prefix}.{name}"
        out.append(Variable(path, kind, str(spec.get("description", ""))))
        out.extend(_schema_fields(spec, path, depth + 1))
    return out


def payload_fields(action_pattern: str) -> dict[str, list[Variable]]:
    """The payload fields of each action type `action_pattern` covers, by action type."""
    action_type = apps.get_model("workflows", "ActionType")
    out = {}
    for name, schema in action_type.objects.order_by("name").values_list("name", "payload_schema"):
        if action_pattern and pattern_matches(action_pattern, name):
            out[name] = _schema_fields(schema, "payload")
    return out


def condition_variables(action_pattern: str) -> dict[str, Any]:
    """Everything a condition for `action_pattern` may read, for the editing panel."""
    return {
        "payload": payload_fields(action_pattern),
        "agent": [
            Variable(f"agent.{name}", help=AGENT_HELP.get(name, "")) for name in AGENT_FIELDS
        ],
        "action": [
            Variable(f"action.{name}", "string", ACTION_HELP.get(name, ""))
            for name in ACTION_FIELDS
        ],
        "context": [
            Variable(f"context.{path}", "int", words) for path, words in CONTEXT_HELP.items()
        ]
        + [Variable('context.limits["<rule id>"]', "number", "a limit rule's running total")],
    }
