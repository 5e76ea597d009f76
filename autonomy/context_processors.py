"""Template context shared by every page: what the navigation shows to this person."""

from governance.ledger import may_audit
from governance.scoping import is_coe


def navigation(request) -> dict:
    """Flags for the navigation bar, computed once per request.

    `nav_can_audit` is a callable, so pages that never render the navigation (fragments)
    never run its query.
    """
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    return {
        "nav_is_coe": signed_in and is_coe(user),
        "nav_can_audit": lambda: signed_in and may_audit(user),
    }
