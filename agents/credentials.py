"""Who holds an API key: the key row with its agent, role, business unit and owner, cached.

Verifying a key costs a database round trip (the key with its agent, role, unit and
owner) on every agent request. This process keeps verified keys in memory, keyed by a
SHA-256 of the whole secret (so only a caller who holds the secret can hit an entry), and
trusts an entry only while the AGENTS epoch it was read at is current: every change to an
agent, key, role or business unit bumps that epoch after commit (agents/signals.py), so a
revoked key or a suspended agent is refused on the very next request in every process.
Entries are also re-read after MAX_AGE_SECONDS (the owner's user row, shown by name only,
may be that old), and the whole cache is dropped when it holds MAX_ENTRIES keys.

Callers get their own copies of the rows: a request may change its agent instance
without touching another request's.
"""

import copy
import hashlib
import threading
import time
from dataclasses import dataclass

from agents.models import AgentAPIKey
from governance import epochs

__all__ = ["EPOCH", "MAX_AGE_SECONDS", "MAX_ENTRIES", "forget", "key_for_secret", "note_used"]

# Bumped by every change to agents, their keys, roles and business units.
EPOCH = epochs.kind("epoch:agents")

MAX_AGE_SECONDS = 60.0
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    epoch: int
    loaded_at: float
    key: AgentAPIKey


_entries: dict[str, _Entry] = {}
_lock = threading.Lock()


def _copy(key: AgentAPIKey) -> AgentAPIKey:
    mine = copy.copy(key)
    mine.agent = copy.copy(key.agent)
    return mine


def key_for_secret(secret: str) -> AgentAPIKey | None:
    """The key whose secret is `secret` (with its agent, role, unit and owner: the inbox row
    of an escalation names the owner), or None. Whether
    it may be used (revoked, expired, agent state) is the caller's to decide."""
    prefix, dot, _ = secret.partition(".")
    if not dot or not prefix:
        return None
    digest = _digest(secret)
    epoch = epochs.current(EPOCH)[EPOCH]
    found = _entries.get(digest)
    if (
        found is not None
        and found.epoch == epoch
        and time.monotonic() - found.loaded_at < MAX_AGE_SECONDS
    ):
        return _copy(found.key)
    # The epoch was read before the rows: a change committed in between bumps it again,
    # so the next request reads the rows anew.
    key = (
        AgentAPIKey.objects.select_related("agent__role", "agent__business_unit", "agent__owner")
        .filter(prefix=prefix)
        .first()
    )
    if key is None or not key.is_valid(secret):
        return None
    with _lock:
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[digest] = _Entry(epoch, time.monotonic(), key)
    return _copy(key)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def note_used(secret: str, when) -> None:
    """Remember that the key of `secret` was used at `when` (the caller updates its row),
    so the once-a-minute write of last_used_at is not repeated on every request."""
    found = _entries.get(_digest(secret))
    if found is not None:
        found.key.last_used_at = when


def forget() -> None:
    """Drop every cached key (tests, and after a bulk change made outside the services)."""
    with _lock:
        _entries.clear()
