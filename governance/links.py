"""What governance's and agents' pages link to in the apps above them (an agent's page,
an action's page, the what-if page, a decision's action, escalation and queue), without
naming those apps.

Imports point down (workflows → agents → governance), so the apps above register when
they start (agents.apps, workflows.apps): the URL name of each page governance links to
(`register_page`), and the providers of what a recorded decision led to (`register`),
which the decision page asks for the person looking.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.urls import reverse

from governance.models import DecisionRecord

__all__ = ["DecisionFact", "facts_for", "page_url", "register", "register_page"]

# A page linked to from below ("agent", "action", "what-if") -> the URL name its app gave it.
_pages: dict[str, str] = {}


def register_page(page: str, url_name: str) -> None:
    """Say which URL name serves `page` (an app registers its own pages)."""
    _pages[page] = url_name


def page_url(page: str, *args) -> str:
    """The address of a registered `page` with `args` (a KeyError for a page nobody
    registered, a NoReverseMatch for arguments its URL does not take)."""
    return reverse(_pages[page], args=args)


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
