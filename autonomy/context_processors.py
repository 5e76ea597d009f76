"""Template context shared by every page: what the navigation shows to this person."""

import functools

from autonomy.core.principals import is_coe
from governance.ledger import may_audit
from workflows.counts import inbox_counts


def navigation(request) -> dict:
    """Flags for the navigation bar, computed once per request.

    `nav_can_audit` and `nav_inbox_counts` are callables, so pages that never render the
    navigation (fragments) never run their queries; `nav_inbox_counts` runs its query once
    however often a page asks (the menu, the home page).
    """
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    return {
        "nav_is_coe": signed_in and is_coe(user),
        "nav_can_audit": lambda: signed_in and may_audit(user),
        "nav_inbox_counts": functools.cache(lambda: inbox_counts(user) if signed_in else None),
    }
