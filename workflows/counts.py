"""How many escalations wait for a person, and how many of them are at risk: the numbers
the menu and the home page show (and fetch again when the live socket tells of a change)."""

from django.db.models import Count, Q
from django.utils import timezone

from workflows.filtersets import at_risk, waiting
from workflows.models import Escalation
from workflows.queues import may_use_inbox

__all__ = ["inbox_counts"]


def inbox_counts(user) -> dict[str, int] | None:
    """`{"open": waiting escalations, "at_risk": those of them at risk}` in the queues `user`
    works (Escalation.objects.for_person), or None for someone who works no inbox."""
    if not may_use_inbox(user):
        return None
    mine = waiting(Escalation.objects.for_person(user))
    risky = at_risk(mine, timezone.now()).values("pk")
    return mine.aggregate(open=Count("pk"), at_risk=Count("pk", filter=Q(pk__in=risky)))
