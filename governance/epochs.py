"""Cross-process invalidation: a counter per kind of configuration, kept in the shared cache.

Publishing a policy or engaging a kill switch bumps its epoch after commit; every process
compares the epochs it built its in-process caches from with the current ones, in one
cache round trip per request, and rebuilds what changed. With Redis as the cache this
reaches every web and worker process on the very next request.
"""

import time

from django.core.cache import cache
from django.db import transaction

__all__ = ["POLICIES", "SWITCHES", "bump_on_commit", "current"]

POLICIES = "epoch:policies"
SWITCHES = "epoch:switches"


def current(*names: str) -> dict[str, int]:
    """The current epochs of `names` (0 when never bumped), in one cache round trip."""
    found = cache.get_many(names)
    return {name: int(found.get(name, 0)) for name in names}


def _bump(name: str) -> None:
    try:
        cache.incr(name)
    except ValueError:
        # Never bumped, or the key was lost: start from the clock, so the new epoch differs
        # from any value a process may still hold.
        cache.add(name, time.time_ns(), timeout=None)
        cache.incr(name)


def bump_on_commit(name: str) -> None:
    """Bump `name` once the current transaction commits (at once outside a transaction)."""
    transaction.on_commit(lambda: _bump(name))
