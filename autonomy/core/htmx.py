"""The one htmx branch every page view takes."""

from django.http import HttpRequest

__all__ = ["htmx_partial"]


def htmx_partial(request: HttpRequest) -> bool:
    """Whether to answer with a fragment rather than the whole page.

    Boosted requests and htmx's history restore (back button with an empty cache) swap
    the whole body, so they get the page.
    """
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request
