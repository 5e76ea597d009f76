"""The OpenAPI schema says what the API answers (the schema is the contract; schemathesis
checks every operation against it, tests/autonomy/test_api_fuzz.py). What holds for every
operation is said here once, so that every endpoint, new ones included, is documented true:

- a read-only field whose source crosses a nullable column (`claimed_by` of an escalation
  nobody claimed, `business_unit` of a COE-wide ledger entry) is `nullable`;
- an operation with query parameters may answer 400 (a filter or page parameter it cannot
  take, a NUL character: autonomy.core.api_pagination, autonomy.core.nul_guard);
- an operation with path parameters may answer 404 (nothing there, or outside the caller's
  scope);
- an operation that asks for credentials may answer 401 (none, or not valid), and one that
  changes something with a session may answer 403 (no CSRF token);
- a keyset-paged list may answer 404 (an invalid cursor, autonomy.core.api_pagination);
- an operation that takes an agent's key may answer 429 `too_many_failed_authentications`
  to a bad key (agents.key_throttle);

each in the error shape.
"""

from django.core.exceptions import FieldDoesNotExist
from drf_spectacular import openapi
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import SAFE_METHODS

__all__ = ["AutoSchema", "nullable_source"]


def nullable_source(field) -> bool:
    """Whether `field`'s source on its serializer's model passes a nullable column."""
    model = getattr(getattr(field.parent, "Meta", None), "model", None)
    if model is None or field.source in ("*", None):
        return False
    for attr in field.source.split("."):
        try:
            column = model._meta.get_field(attr)
        except FieldDoesNotExist:
            return False
        if getattr(column, "null", False):
            return True
        model = column.related_model
        if model is None:
            return False
    return False


class AutoSchema(openapi.AutoSchema):
    """drf-spectacular's AutoSchema, with the project-wide facts above."""

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        if field.read_only and not field.allow_null and nullable_source(field):
            field.allow_null = True  # this instance is the schema's, made for it alone
        return super()._map_serializer_field(field, direction, bypass_extensions)

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        places = {parameter["in"] for parameter in operation.get("parameters", [])}
        responses = operation["responses"]
        for place, code in (("query", "400"), ("path", "404")):
            if place in places and code not in responses:
                responses[code] = self._error_response(code)
        security = operation.get("security", [])
        if any(security) and "401" not in responses:
            responses["401"] = self._error_response("401")
        session = any("cookieAuth" in scheme for scheme in security)
        if session and self.method not in SAFE_METHODS and "403" not in responses:
            responses["403"] = self._error_response("403")
        if self._is_list_view() and isinstance(self._get_paginator(), CursorPagination):
            responses.setdefault("404", self._error_response("404"))
        if any("agentKey" in scheme for scheme in security) and "429" not in responses:
            responses["429"] = self._error_response("429")
        return operation

    def _error_response(self, code: str) -> dict:
        from autonomy.core.serializers import ErrorSerializer  # the error shape's component

        return self._get_response_for_code(ErrorSerializer, code)
