"""Template context shared by every page: what the navigation shows to this person."""

from governance.scoping import is_coe


def navigation(request) -> dict:
    """Flags for the navigation bar, computed once per request."""
    user = getattr(request, "user", None)
    return {"nav_is_coe": bool(user is not None and user.is_authenticated and is_coe(user))}
