"""What of a read's answer an agent may see: its clearance against each field's classification.

An agent's clearance is the highest data classification its role grants (public when it
grants none). Each field of a read's answer has a classification: the entry for its path in
the action type's `field_classifications` (dots into nested objects; a list's elements are
looked into under the list's own path), else that of its nearest classified ancestor, else
the action type's `data_classification`. A field classified above the clearance is removed;
an object or list above the clearance with nothing visible inside is removed whole. What
was withheld is told by path, names only, never values. An unknown classification counts
as above every clearance (fail closed).
"""

from dataclasses import dataclass, field
from typing import Any

from agents.models import DataClassification
from governance.redaction import redact
from workflows.connectors.base import EXCERPT_CHARS, Result

__all__ = [
    "ROOT",
    "Filtered",
    "ReadResult",
    "clearance",
    "filter_fields",
    "read_facts",
    "read_result",
    "visible",
]

ORDER = list(DataClassification.values)  # public < internal < confidential < restricted
# The path of an answer that is a single value (a number, a text) rather than an object.
ROOT = "$"


def _rank(classification: str) -> int:
    return ORDER.index(classification) if classification in ORDER else len(ORDER)


def clearance(role) -> str:
    """The highest classification `role` grants (public when it grants none)."""
    granted = [c for c in role.data_classifications or () if c in ORDER]
    return max(granted, key=ORDER.index, default=DataClassification.PUBLIC)


@dataclass(frozen=True)
class Filtered:
    """An answer with the fields above `clearance` removed, and the paths of the fields it
    returned and withheld (sorted, each once however many list elements had it)."""

    data: Any
    clearance: str
    returned: list[str]
    withheld: list[str]


def _visit(node, path: str, own: str, table: dict, limit: int):
    """(visible, filtered node, returned paths, withheld paths) of a node classified `own`."""
    if isinstance(node, dict):
        children = {}
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            children[key] = _visit(value, child, table.get(child, own), table, limit)
        kept = {key: found[1] for key, found in children.items() if found[0]}
        found = list(children.values())
    elif isinstance(node, list):
        found = [_visit(item, path, own, table, limit) for item in node]
        kept = [item[1] for item in found if item[0]]
    elif _rank(own) > limit:
        return False, None, set(), {path or ROOT}
    else:
        return True, node, {path or ROOT}, set()
    returned = set().union(*(item[2] for item in found))
    withheld = set().union(*(item[3] for item in found))
    if path and _rank(own) > limit and not returned:
        return False, None, set(), {path}
    return True, kept, returned, withheld


def filter_fields(data, classifications: dict, default: str, cleared: str) -> Filtered:
    """`data` without the fields classified above `cleared` (see the module docstring).
    `classifications` maps field paths to classifications; fields without an entry (or a
    classified ancestor) are `default`. The answer itself is never removed whole when it
    is an object or a list: it comes back empty, with its fields listed as withheld."""
    ok, kept, returned, withheld = _visit(data, "", default, classifications, _rank(cleared))
    return Filtered(kept if ok else None, cleared, sorted(returned), sorted(withheld))


def visible(action, data) -> Filtered:
    """What of `data`, answered to `action` (a read), its agent may see."""
    action_type = action.action_type
    return filter_fields(
        data,
        action_type.field_classifications or {},
        action_type.data_classification,
        clearance(action.agent.role),
    )


@dataclass(frozen=True)
class ReadResult(Result):
    """A read's answer after the filter: `data` holds what the agent may see and the
    withheld paths, `excerpt` names fields only, `facts` is what the ledger keeps."""

    facts: dict = field(default_factory=dict)


def read_facts(action, filtered: Filtered) -> dict:
    """What the ledger keeps of a read: the record asked for (the payload, sensitive fields
    hashed), the clearance, and the field paths returned and withheld; never a value read."""
    return {
        "record": redact(action.payload, list(action.action_type.sensitive_fields or [])),
        "clearance": filtered.clearance,
        "fields_returned": filtered.returned,
        "fields_withheld": filtered.withheld,
    }


def read_result(action, result: Result) -> ReadResult:
    """`result` of a read executed by the worker (after approval), filtered for its agent:
    only this is stored on the action and its attempt."""
    filtered = visible(action, result.data)
    summary = f"fields returned: {', '.join(filtered.returned) or '-'}; "
    summary += f"withheld: {', '.join(filtered.withheld) or '-'}"
    return ReadResult(
        status_code=result.status_code,
        excerpt=summary[:EXCERPT_CHARS],
        data={"data": filtered.data, "withheld_fields": filtered.withheld},
        facts=read_facts(action, filtered),
    )
