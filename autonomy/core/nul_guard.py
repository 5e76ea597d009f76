"""Requests whose path or query string holds a NUL character are refused before any view:
PostgreSQL text cannot hold NUL, so a lookup or filter with one was a 500
(`/api/v1/agents/%00/`). No object's key contains NUL, so such a path names nothing: 404
(JSON under /api/, the not-found page elsewhere); a query parameter with NUL is a 400.
"""

from django.core.exceptions import BadRequest
from django.http import Http404, JsonResponse

from autonomy.core.api_errors import error_body

__all__ = ["NulGuardMiddleware"]

QUERY_MESSAGE = "Query parameters may not contain the NUL character (\\u0000)."


class NulGuardMiddleware:
    """404 for a NUL in the path, 400 for a NUL in a query parameter."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if "\x00" in request.path:
            raise Http404("No such path.")
        # A NUL can only arrive percent-encoded: no need to parse the query string.
        if "%00" in request.META.get("QUERY_STRING", ""):
            if request.path.startswith("/api/"):
                return JsonResponse(error_body("invalid", QUERY_MESSAGE), status=400)
            raise BadRequest(QUERY_MESSAGE)
        return self.get_response(request)
