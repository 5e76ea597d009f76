"""Cross-process invalidation: a counter per kind of configuration, kept in the shared cache.

Publishing a policy, engaging a kill switch, changing an agent or its keys, or changing
the action catalog bumps that kind's epoch after commit (each app names its own kinds
with `kind()`: governance's policies and switches here, agents' and the catalog's in
their apps); every process compares the epochs it built its in-process caches from with
the current ones and rebuilds what changed. With Redis as the cache this reaches every
web and worker process on the very next request.

Within one HTTP request (`SnapshotMiddleware`), or one `snapshot()` block (the executor's
batch of actions claimed together), every epoch is read at most once, all together in
one cache round trip, the first time any is asked for; a bump made within drops that
snapshot. Elsewhere (other Celery tasks, commands) every `current()` reads the cache.
"""

import contextlib
import contextvars
import time

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

__all__ = [
    "POLICIES",
    "SWITCHES",
    "SnapshotMiddleware",
    "bump_now_and_on_commit",
    "bump_on_commit",
    "bump_when_changed",
    "current",
    "kind",
    "snapshot",
]

# Every kind named so far: a request's first read fetches them all together.
_kinds: list[str] = []


def kind(name: str) -> str:
    """Name a kind of configuration (its cache key), read with all the others; returns it."""
    if name not in _kinds:
        _kinds.append(name)
    return name


POLICIES = kind("epoch:policies")
SWITCHES = kind("epoch:switches")

# The current request's epochs: None outside a request, {} until first read.
_snapshot: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar(
    "epoch_snapshot", default=None
)


def _read(names) -> dict[str, int]:
    found = cache.get_many(names)
    return {name: int(found.get(name, 0)) for name in names}


def current(*names: str) -> dict[str, int]:
    """The current epochs of `names` (0 when never bumped), in one cache round trip (none
    when the request has read them already)."""
    snapshot = _snapshot.get()
    if snapshot is None:
        return _read(names)
    if not snapshot:
        snapshot.update(_read(_kinds))
    missing = [name for name in names if name not in snapshot]
    if missing:
        snapshot.update(_read(missing))
    return {name: snapshot[name] for name in names}


def _bump(name: str) -> None:
    try:
        cache.incr(name)
    except ValueError:
        # Never bumped, or the key was lost: start from the clock, so the new epoch differs
        # from any value a process may still hold.
        cache.add(name, time.time_ns(), timeout=None)
        cache.incr(name)
    snapshot = _snapshot.get()
    if snapshot:
        snapshot.clear()


def bump_on_commit(name: str) -> None:
    """Bump `name` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: _bump(name))


def bump_now_and_on_commit(name: str) -> None:
    """Bump `name` at once (this process, and this transaction's later reads, stop trusting
    what they cached) and again after commit (a process that re-read the old rows in
    between reads them anew)."""
    _bump(name)
    bump_on_commit(name)


def bump_when_changed(name: str, *models) -> None:
    """Bump `name` now and after commit (`bump_now_and_on_commit`) whenever a row of one of
    `models` is saved or deleted: signals, since the admin and data migrations change such
    rows too (QuerySet.update() sends none: services that use it bump themselves)."""

    def changed(sender, **kwargs) -> None:
        bump_now_and_on_commit(name)

    for model in models:
        for signal in (post_save, post_delete):
            signal.connect(
                changed, sender=model, weak=False, dispatch_uid=f"{name}:{model._meta.label}"
            )


@contextlib.contextmanager
def snapshot():
    """Within this block every epoch is read at most once (see the module docstring)."""
    token = _snapshot.set({})
    try:
        yield
    finally:
        _snapshot.reset(token)


class SnapshotMiddleware:
    """Reads the epochs at most once per request (see the module docstring)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request):
        with snapshot():
            return self.get_response(request)
