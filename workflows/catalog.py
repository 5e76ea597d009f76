"""The catalogue the gateway works with: queues, connectors and action types.

Each `ensure_*` finds the row by its natural key or creates it, in one transaction that
records the creation in the ledger (secrets by name only). Used by the demo seed and by
the queues created on first use; the COE edits them in Django admin.

`action_type_named()` answers the gateway from an in-process copy of the action types
(with their connectors), trusted while the CATALOG epoch is unchanged: every saved or
deleted action type or connector bumps it (workflows/signals.py).
"""

import copy
import threading
import time

from django.db import transaction

from governance import epochs, ledger
from workflows.models import ActionType, Connector, Queue

__all__ = ["action_type_named", "ensure_action_type", "ensure_connector", "ensure_queue"]

# Re-read the catalogue at least this often even when no epoch change was seen.
_MAX_AGE_SECONDS = 60.0
_catalog: tuple[int, float, dict[str, ActionType]] | None = None
_lock = threading.Lock()


def action_type_named(name: str) -> ActionType | None:
    """The action type called `name`, with its connector (a copy the caller may keep)."""
    global _catalog
    epoch = epochs.current(epochs.CATALOG)[epochs.CATALOG]
    found = _catalog
    if found is None or found[0] != epoch or time.monotonic() - found[1] >= _MAX_AGE_SECONDS:
        with _lock:
            # The epoch was read before the rows: a change committed in between bumps it
            # again, so the next call reads them anew.
            rows = ActionType.objects.select_related("connector")
            found = (epoch, time.monotonic(), {row.name: row for row in rows})
            _catalog = found
    action_type = found[2].get(name)
    return copy.copy(action_type) if action_type is not None else None


def forget() -> None:
    """Drop this process's copy of the catalogue (tests)."""
    global _catalog
    _catalog = None


def _created(verb: str, actor, obj, data: dict) -> None:
    ledger.record(verb, ledger.Actor.of(actor), obj, data=data)


@transaction.atomic
def ensure_queue(actor, slug: str, **defaults) -> Queue:
    """The queue with this slug, created with `defaults` if missing."""
    queue, created = Queue.objects.get_or_create(slug=slug, defaults=defaults)
    if created:
        _created(
            "queue.created",
            actor,
            queue,
            {
                "slug": slug,
                "business_unit": queue.business_unit.slug if queue.business_unit else None,
                "parent": queue.parent.slug if queue.parent else None,
                "sla_seconds": queue.sla_seconds,
            },
        )
    return queue


@transaction.atomic
def ensure_connector(actor, slug: str, **defaults) -> Connector:
    """The connector with this slug, created with `defaults` if missing."""
    connector, created = Connector.objects.get_or_create(slug=slug, defaults=defaults)
    if created:
        _created(
            "connector.created",
            actor,
            connector,
            {
                "kind": connector.kind,
                "config": connector.config,
                "secrets": sorted(connector.secrets or {}),  # names only, never values
            },
        )
    return connector


@transaction.atomic
def ensure_action_type(actor, name: str, **defaults) -> ActionType:
    """The action type with this name, created with `defaults` if missing (schema checked)."""
    action_type = ActionType.objects.filter(name=name).first()
    if action_type is not None:
        return action_type
    action_type = ActionType(name=name, **defaults)
    action_type.full_clean()
    action_type.save()
    _created(
        "action_type.created",
        actor,
        action_type,
        {
            "kind": action_type.kind,
            "risk_tier": action_type.risk_tier,
            "data_classification": action_type.data_classification,
            "sensitive_fields": action_type.sensitive_fields,
            "connector": action_type.connector.slug if action_type.connector else None,
        },
    )
    return action_type
