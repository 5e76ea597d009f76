"""One error shape for the whole API: {"error": {"code", "message", "fields"}}.

DRF exceptions, Django's 404/403 and unexpected errors under /api/ all come out in
this shape; the API never answers with an HTML page.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

__all__ = [
    "DECISION_CODES",
    "APIError",
    "error_body",
    "exception_handler",
    "json_error_view",
    "not_a_fault",
]

# Codes of refusals that carry out a decision about the caller: a policy's (403 denied,
# 429 rate_limited) or a person's (423 agent_suspended). They are recorded where the
# decision was made (the ledger, the activity feed), so Django does not log them again as
# "Forbidden" or "Locked" warnings; bad input and bad keys still are.
DECISION_CODES = frozenset({"denied", "rate_limited", "agent_suspended"})


class APIError(exceptions.APIException):
    """An API error with an explicit status, machine-readable code and message."""

    def __init__(self, status_code: int, code: str, message: str, fields=None):
        self.status_code = status_code
        self.code = code
        self.fields = fields or {}
        super().__init__(detail=message, code=code)


def not_a_fault(response, code: str):
    """`response`, kept out of Django's request log when `code` is a decision's refusal
    (DECISION_CODES): django.utils.log.log_response skips a response marked as logged."""
    if code in DECISION_CODES:
        response._has_been_logged = True
    return response


def error_body(code: str, message: str, fields=None) -> dict:
    """The JSON body of every API error."""
    return {"error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error details as {"field" or "field.0.sub": [messages]}, codes dropped."""
    if isinstance(detail, dict):
        flat: dict[str, list[str]] = {}
        for key, value in detail.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return {prefix or "non_field_errors": [str(item) for item in detail]}
        flat = {}
        for index, item in enumerate(detail):
            flat.update(_flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    return {prefix or "non_field_errors": [str(detail)]}


def exception_handler(exc, context):
    """Render any exception raised in an API view as the error shape."""
    # Imported here: rest_framework.views imports the authentication classes, which
    # import APIError from this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, APIError):
        response = Response(error_body(exc.code, str(exc.detail), exc.fields), exc.status_code)
        return not_a_fault(response, exc.code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        message = "; ".join(f"{key}: {' '.join(value)}" for key, value in fields.items())
        response.data = error_body("invalid", message or "Invalid input.", fields)
        response.status_code = status.HTTP_400_BAD_REQUEST
        return response
    code = exc.get_codes() if hasattr(exc, "get_codes") else "error"
    if not isinstance(code, str):
        code = "error"
    detail = exc.detail if hasattr(exc, "detail") else str(exc)
    response.data = error_body(code, str(detail))
    return response


def json_error_view(status_code: int, code: str, message: str):
    """A Django error view for /api/ paths that answers JSON instead of HTML."""

    def view(request, exception=None):
        return JsonResponse(error_body(code, message), status=status_code)

    return view
