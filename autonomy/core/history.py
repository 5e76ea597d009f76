"""Row history (django-simple-history) with the person who made the change.

Agents are not Users: a change made while an agent's request is served (for example a
queue created on the way) is recorded with no history user, and the ledger names the agent.
"""

from django.contrib.auth import get_user_model
from simple_history.models import HistoricalRecords

__all__ = ["History"]


def history_user(request=None, **kwargs):
    """The signed-in person behind a change, or None (agents, system tasks)."""
    user = getattr(request, "user", None)
    return user if isinstance(user, get_user_model()) else None


def History(**kwargs) -> HistoricalRecords:
    """HistoricalRecords that only ever record a real user."""
    return HistoricalRecords(get_user=history_user, **kwargs)
