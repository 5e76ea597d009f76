"""Compiled policy sets cached in this process, keyed by policy-set version.

Compiling happens once per version and process; a request never waits on another
version's compilation. Cross-process invalidation is the caller's job: bump the version key
(for example on publish) or call `invalidate()` when told to.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable

from governance.pdp.engine import CompiledPolicySet
from governance.pdp.types import Rule

__all__ = ["get_compiled", "invalidate"]

# A few versions stay warm: requests in flight on the previous one, and simulations of drafts.
_KEEP = 8
_compiled: OrderedDict[Hashable, CompiledPolicySet] = OrderedDict()
_lock = threading.Lock()


def get_compiled(version_key: Hashable, loader: Callable[[], Iterable[Rule]]) -> CompiledPolicySet:
    """The policy set for `version_key`, compiled from `loader()` on first use in this process.
    A PolicyCompileError from the loader's rules propagates and nothing is cached."""
    found = _compiled.get(version_key)
    if found is not None:
        return found
    with _lock:
        found = _compiled.get(version_key)
        if found is None:
            found = CompiledPolicySet(loader())
            _compiled[version_key] = found
            while len(_compiled) > _KEEP:
                _compiled.popitem(last=False)
        return found


def invalidate(version_key: Hashable | None = None) -> None:
    """Forget one compiled version, or all of them when no key is given."""
    with _lock:
        if version_key is None:
            _compiled.clear()
        else:
            _compiled.pop(version_key, None)
