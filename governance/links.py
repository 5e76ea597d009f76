"""What a decision's page links to in the apps above governance (its action, escalation
and queue), without governance importing them.

Imports point down (workflows → agents → governance), so the app that owns actions and
escalations registers a provider when it starts (workflows.apps); the decision page asks
every provider for the facts it knows about a recorded decision, for the person looking.
"""

from collections.abc import Callable
from dataclasses import dataclass

from governance.models import DecisionRecord

__all__ = ["DecisionFact", "facts_for", "register"]


@dataclass(frozen=True)
class DecisionFact:
    """One line on a decision's page: a label, a text and, when the person may open it,
    a link."""

    label: str
    text: str
    url: str = ""
    note: str = ""


Provider = Callable[[DecisionRecord, object], list[DecisionFact]]
_providers: list[Provider] = []


def register(provider: Provider) -> None:
    """Add a provider (once: registering the same one again changes nothing)."""
    if provider not in _providers:
        _providers.append(provider)


def facts_for(record: DecisionRecord, user) -> list[DecisionFact]:
    """What the registered providers know about `record`, for `user`, in their order."""
    return [fact for provider in _providers for fact in provider(record, user)]
