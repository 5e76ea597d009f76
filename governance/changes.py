"""Changes to configuration as the ledger keeps them: one entry per change, with the fields
whose values differ, before and after.

Every service that edits configuration (business units and agents in admin, policies and
their rules, agent roles, the workflows catalogue) builds its diff with `diff()` and records
it with `record_change()`, so such an entry always reads
{"changes": {field: {"before": old, "after": new}}, ...}; `stamp()` names the person in the
row's own history (simple-history).
"""

from collections.abc import Mapping

from django.contrib.auth import get_user_model
from django.db import models

from governance import ledger
from governance.models import AuditEntry

__all__ = ["diff", "plain", "record_change", "stamp"]


def plain(value):
    """A field value as the ledger keeps it: JSON values as they are, anything else as text."""
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


def diff(before: Mapping, after: Mapping) -> dict:
    """{name: {"before": old, "after": new}} (plain values) for the names of `after` whose
    value differs from the one in `before`."""
    return {
        name: {"before": plain(before[name]), "after": plain(value)}
        for name, value in after.items()
        if before[name] != value
    }


def stamp(obj: models.Model, actor) -> None:
    """Name the person in the row's history (simple-history), when a person acted."""
    if isinstance(actor, get_user_model()):
        obj._history_user = actor


def record_change(
    verb: str,
    actor,
    obj: models.Model,
    changes: dict,
    *,
    business_unit_id: int | None = None,
    via: str = "",
    **facts,
) -> AuditEntry:
    """One ledger entry for a change to `obj` by `actor` (a person, an agent or a ledger
    Actor): {"changes": changes, **facts}, and "via" naming the page it came from, if any."""
    data = {"changes": changes, **facts}
    if via:
        data["via"] = via
    return ledger.record(
        verb, ledger.Actor.of(actor), obj, business_unit_id=business_unit_id, data=data
    )
