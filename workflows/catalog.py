"""The catalogue the gateway works with: queues, connectors and action types.

`create_*` and `update_*` are how the COE's admin adds and changes queues, connectors and
action types: each validates the row (a connector's configuration by its kind, a queue's
escalation chain), saves it and records one ledger entry in one transaction, with the
before and after of the changed fields (for a queue, also who works it: the people and
groups holding guardian's `workflows.work_queue` on it). A connector's secrets are
write-only: the ledger names them, never their values.
Each `ensure_*` finds the row by its natural key or creates it the same way; used by the
demo seed and by the queues created on first use.

`action_type_named()` (the gateway), `action_type_with_id()` (the executor) and
`queue_with_slug()` (escalation routing) answer from an in-process copy of the action
types (with their connectors and approval queues) and the queues, trusted while the
CATALOG epoch is unchanged: every saved or deleted action type, connector or queue bumps
it (workflows/signals.py).
"""

import copy
import threading
import time

from django.core.exceptions import ValidationError
from django.db import models, transaction
from guardian.shortcuts import assign_perm, get_groups_with_perms, get_users_with_perms, remove_perm

from governance import epochs, ledger
from governance.changes import diff, plain, record_change, stamp
from workflows.connectors import kind_class
from workflows.models import WORK_QUEUE, ActionType, Connector, Queue

__all__ = [
    "ACTION_TYPE_FIELDS",
    "CONNECTOR_FIELDS",
    "EPOCH",
    "QUEUE_FIELDS",
    "action_type_named",
    "action_type_with_id",
    "check_queue",
    "create_action_type",
    "create_connector",
    "create_queue",
    "ensure_action_type",
    "ensure_connector",
    "ensure_queue",
    "queue_with_slug",
    "secret_names",
    "update_action_type",
    "update_connector",
    "update_queue",
    "workers_of",
]

# Bumped by every change to action types and connectors.
EPOCH = epochs.kind("epoch:catalog")

# The fields the COE sets (a connector's secrets apart: they are write-only).
CONNECTOR_FIELDS = (
    "slug",
    "name",
    "kind",
    "config",
    "enabled",
    "disabled_reason",
    "disable_on_permanent_error",
    "max_attempts",
)
ACTION_TYPE_FIELDS = (
    "name",
    "title",
    "description",
    "kind",
    "payload_schema",
    "data_classification",
    "risk_tier",
    "sensitive_fields",
    "summary_fields",
    "field_classifications",
    "connector",
    "approval_queue",
    "read_timeout_seconds",
)
QUEUE_FIELDS = (
    "slug",
    "name",
    "business_unit",
    "parent",
    "sla_seconds",
    "warn_before_seconds",
)

# Re-read the catalogue at least this often even when no epoch change was seen.
_MAX_AGE_SECONDS = 60.0
_catalog: tuple[int, float, dict[str | int, ActionType], dict[str, Queue]] | None = None
_lock = threading.Lock()


def _current() -> tuple[dict[str | int, ActionType], dict[str, Queue]]:
    """This process's copy of the catalogue (action types by name and by id, queues by
    slug), read anew when the CATALOG epoch moved."""
    global _catalog
    epoch = epochs.current(EPOCH)[EPOCH]
    found = _catalog
    if found is None or found[0] != epoch or time.monotonic() - found[1] >= _MAX_AGE_SECONDS:
        with _lock:
            # The epoch was read before the rows: a change committed in between bumps it
            # again, so the next call reads them anew.
            rows = list(ActionType.objects.select_related("connector", "approval_queue"))
            by_key = {row.name: row for row in rows} | {row.pk: row for row in rows}
            queues = {queue.slug: queue for queue in Queue.objects.all()}
            found = (epoch, time.monotonic(), by_key, queues)
            _catalog = found
    return found[2], found[3]


def action_type_named(name: str) -> ActionType | None:
    """The action type called `name`, with its connector (a copy the caller may keep)."""
    action_type = _current()[0].get(name)
    return copy.copy(action_type) if action_type is not None else None


def action_type_with_id(pk: int) -> ActionType | None:
    """The action type whose primary key is `pk`, with its connector (a copy)."""
    action_type = _current()[0].get(pk)
    return copy.copy(action_type) if action_type is not None else None


def queue_with_slug(slug: str) -> Queue | None:
    """The queue whose slug is `slug` (a copy), or None."""
    queue = _current()[1].get(slug)
    return copy.copy(queue) if queue is not None else None


def forget() -> None:
    """Drop this process's copy of the catalogue (tests)."""
    global _catalog
    _catalog = None


def secret_names(secrets: dict) -> str:
    """Which secrets are stored, by name only ("headers: Authorization; signing_secret")."""
    names = []
    for key, value in sorted((secrets or {}).items()):
        inner = ", ".join(sorted(value)) if isinstance(value, dict) else ""
        names.append(f"{key}: {inner}" if inner else key)
    return "; ".join(names) or "none"


def _value(obj: models.Model, name: str):
    """A field's value as the ledger keeps it: plain JSON, a related row by its slug."""
    field = obj._meta.get_field(name)
    if field.is_relation:
        related = getattr(obj, name)
        return related.slug if related is not None else None
    return plain(field.value_from_object(obj))


def _only(fields: dict, allowed: tuple[str, ...]) -> None:
    if unknown := sorted(set(fields) - set(allowed)):
        raise TypeError(f"Not a field the COE sets: {', '.join(unknown)}.")


def _change(obj: models.Model, fields: dict) -> dict:
    """Set `fields` on `obj`; {field: {"before": old, "after": new}} for those that differ."""
    before = {name: _value(obj, name) for name in fields}
    for name, value in fields.items():
        setattr(obj, name, value)
    return diff(before, {name: _value(obj, name) for name in fields})


def _created(obj: models.Model, names) -> dict:
    """The changes of a new row: every named field, from nothing to its value."""
    return {name: {"before": None, "after": _value(obj, name)} for name in names}


def _check_connector(connector: Connector) -> None:
    """The row's own checks, then its configuration and secrets as its kind needs them."""
    connector.full_clean()
    if not isinstance(connector.config, dict):
        raise ValidationError({"config": "The configuration must be a JSON object."})
    if not isinstance(connector.secrets, dict):
        raise ValidationError({"secrets": "Secrets must be a JSON object."})
    if errors := kind_class(connector.kind).config_errors(connector.config, connector.secrets):
        raise ValidationError(errors)


@transaction.atomic
def create_connector(actor, *, secrets: dict | None = None, via: str = "", **fields) -> Connector:
    """A new connector, checked by its kind, recorded with its fields and the names of its
    secrets (never their values). `via` names the page it came from ("admin")."""
    _only(fields, CONNECTOR_FIELDS)
    connector = Connector(**fields, secrets={} if secrets is None else secrets)
    _check_connector(connector)
    stamp(connector, actor)
    connector.save()
    facts = {} if secrets is None else {"secrets": {"set": secret_names(secrets)}}
    record_change(
        "connector.created",
        actor,
        connector,
        _created(connector, CONNECTOR_FIELDS),
        via=via,
        **facts,
    )
    return connector


@transaction.atomic
def update_connector(
    actor, connector: Connector, *, secrets: dict | None = None, via: str = "", **fields
) -> Connector:
    """Change the given fields on the locked row (others, such as `enabled` set meanwhile by
    a failing call, keep their current values) and replace the secrets unless `secrets` is
    None. Records the before and after, secrets by name only; nothing changed, nothing
    recorded."""
    _only(fields, CONNECTOR_FIELDS)
    locked = Connector.objects.select_for_update().get(pk=connector.pk)
    changes = _change(locked, fields)
    if not changes and secrets is None:
        return locked
    if secrets is not None:
        locked.secrets = secrets
    _check_connector(locked)
    stamp(locked, actor)
    locked.save(update_fields=[*changes, *(["secrets"] if secrets is not None else [])])
    facts = {} if secrets is None else {"secrets": {"set": secret_names(secrets)}}
    record_change("connector.updated", actor, locked, changes, via=via, **facts)
    return locked


@transaction.atomic
def create_action_type(actor, *, via: str = "", **fields) -> ActionType:
    """A new action type, checked (its payload schema, classifications, connector) and
    recorded with every field the COE sets."""
    _only(fields, ACTION_TYPE_FIELDS)
    action_type = ActionType(**fields)
    action_type.full_clean()
    stamp(action_type, actor)
    action_type.save()
    data = {"fields": {name: _value(action_type, name) for name in ACTION_TYPE_FIELDS}}
    if via:
        data["via"] = via
    ledger.record("action_type.created", ledger.Actor.of(actor), action_type, data=data)
    return action_type


@transaction.atomic
def update_action_type(actor, action_type: ActionType, *, via: str = "", **fields) -> ActionType:
    """Change the given fields on the locked row, checked as a whole, and record the before
    and after; nothing changed, nothing recorded."""
    _only(fields, ACTION_TYPE_FIELDS)
    locked = ActionType.objects.select_for_update().get(pk=action_type.pk)
    changes = _change(locked, fields)
    if not changes:
        return locked
    locked.full_clean()
    stamp(locked, actor)
    locked.save(update_fields=list(changes))
    record_change("action_type.updated", actor, locked, changes, via=via)
    return locked


def check_queue(queue: Queue) -> None:
    """The row's own checks; the warning comes before the deadline; the parent (where
    escalations go at SLA expiry) is a COE queue or one of the same unit, and following
    parents never comes back to this queue."""
    queue.full_clean()
    errors: dict[str, str] = {}
    if queue.warn_before_seconds >= queue.sla_seconds:
        errors["warn_before_seconds"] = "The warning must come before the SLA runs out."
    parent = queue.parent
    if parent is not None:
        if parent.business_unit_id not in (None, queue.business_unit_id):
            errors["parent"] = "Escalate to a COE queue or to a queue of the same business unit."
        seen = {queue.pk} if queue.pk else set()
        while parent is not None:
            if parent.pk in seen or parent.pk == queue.pk:
                errors["parent"] = (
                    f"{parent.name} already escalates back to this queue: the chain must end."
                )
                break
            seen.add(parent.pk)
            parent = parent.parent
    if errors:
        raise ValidationError(errors)


def workers_of(queue: Queue) -> tuple[list, list]:
    """The people and the groups holding `work_queue` on `queue` itself (not through a
    group, not as COE staff or supervisors, who work it anyway)."""
    users = get_users_with_perms(
        queue, only_with_perms_in=["work_queue"], with_group_users=False, with_superusers=False
    )
    groups = get_groups_with_perms(queue, attach_perms=True)
    return (
        sorted(users, key=lambda user: user.get_username()),
        sorted((group for group, perms in groups.items() if "work_queue" in perms), key=str),
    )


def _names(rows) -> list[str]:
    return sorted(row.get_username() if hasattr(row, "get_username") else row.name for row in rows)


def _grant(queue: Queue, current: list, wanted, data: dict, key: str) -> None:
    """Give `work_queue` on `queue` to the `wanted` people or groups and take it from the
    others of `current`; what changed goes in `data[key]` as names before and after."""
    if wanted is None:
        return
    wanted = list(wanted)
    for holder in set(current) - set(wanted):
        remove_perm(WORK_QUEUE, holder, queue)
    for holder in set(wanted) - set(current):
        assign_perm(WORK_QUEUE, holder, queue)
    before, after = _names(current), _names(wanted)
    if before != after:
        data[key] = {"before": before, "after": after}


@transaction.atomic
def create_queue(actor, *, workers=None, worker_groups=None, via: str = "", **fields) -> Queue:
    """A new queue, checked (SLA, warning, escalation chain), with the people and groups
    who work it, recorded with every field."""
    _only(fields, QUEUE_FIELDS)
    queue = Queue(**fields)
    check_queue(queue)
    stamp(queue, actor)
    queue.save()
    granted: dict = {}
    _grant(queue, [], workers, granted, "workers")
    _grant(queue, [], worker_groups, granted, "worker_groups")
    record_change("queue.created", actor, queue, _created(queue, QUEUE_FIELDS), via=via, **granted)
    return queue


@transaction.atomic
def update_queue(
    actor, queue: Queue, *, workers=None, worker_groups=None, via: str = "", **fields
) -> Queue:
    """Change the given fields of the locked queue and, unless None, who works it
    (`workers`: people, `worker_groups`: groups); records the before and after; nothing
    changed, nothing recorded."""
    _only(fields, QUEUE_FIELDS)
    locked = Queue.objects.select_for_update().get(pk=queue.pk)
    changes = _change(locked, fields)
    if changes:
        check_queue(locked)
        stamp(locked, actor)
        locked.save(update_fields=list(changes))
    granted: dict = {}
    users, groups = workers_of(locked)
    _grant(locked, users, workers, granted, "workers")
    _grant(locked, groups, worker_groups, granted, "worker_groups")
    if changes or granted:
        record_change("queue.updated", actor, locked, changes, via=via, **granted)
    return locked


@transaction.atomic
def ensure_queue(actor, slug: str, **defaults) -> Queue:
    """The queue with this slug, created with `defaults` if missing."""
    queue, created = Queue.objects.get_or_create(slug=slug, defaults=defaults)
    if created:
        ledger.record(
            "queue.created",
            ledger.Actor.of(actor),
            queue,
            data={
                "slug": slug,
                "business_unit": queue.business_unit.slug if queue.business_unit else None,
                "parent": queue.parent.slug if queue.parent else None,
                "sla_seconds": queue.sla_seconds,
            },
        )
    return queue


@transaction.atomic
def ensure_connector(actor, slug: str, **defaults) -> Connector:
    """The connector with this slug, created with `defaults` if missing (`create_connector`)."""
    connector = Connector.objects.filter(slug=slug).first()
    if connector is not None:
        return connector
    return create_connector(actor, slug=slug, **defaults)


@transaction.atomic
def ensure_action_type(actor, name: str, **defaults) -> ActionType:
    """The action type with this name, created with `defaults` if missing
    (`create_action_type`)."""
    action_type = ActionType.objects.filter(name=name).first()
    if action_type is not None:
        return action_type
    return create_action_type(actor, name=name, **defaults)
