"""The API's paging: what a client may ask for, refused up front rather than sent to the
database (`?limit=9223372036854775808` was `bigint out of range`, a 500, on PostgreSQL).

`Pagination` (limit/offset, the default of every list) refuses a `limit` or `offset` that
is not a whole number (400 `invalid` with the parameter in `fields`), and takes a limit
over AUTONOMY_API_MAX_LIMIT as that maximum; an offset past the end is an empty page.
`BoundedCursorPagination` (keyset pages) takes a page size over its maximum as that
maximum and answers a cursor whose position its ordering field cannot hold (not a number,
beyond a 64-bit integer, a NUL character) as the invalid cursor it is: 404.
"""

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist, ValidationError
from rest_framework.exceptions import NotFound
from rest_framework.pagination import CursorPagination, LimitOffsetPagination

from autonomy.core.api_errors import APIError

__all__ = ["BoundedCursorPagination", "Pagination"]


def _whole_number(request, name: str, minimum: int) -> int | None:
    """The query parameter `name` as an int of at least `minimum`, None when absent."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or int(text) < minimum:
        message = f"{name} must be a whole number of at least {minimum}."
        raise APIError(400, "invalid", message, fields={name: [message]})
    return int(text)


class Pagination(LimitOffsetPagination):
    """Limit/offset pages (`count`, `next`, `previous`, `results`) with a bounded limit."""

    @property
    def max_limit(self) -> int:
        return settings.AUTONOMY_API_MAX_LIMIT

    def get_limit(self, request) -> int:
        limit = _whole_number(request, self.limit_query_param, 1)
        return self.default_limit if limit is None else min(limit, self.max_limit)

    def get_offset(self, request) -> int:
        return _whole_number(request, self.offset_query_param, 0) or 0

    def get_schema_operation_parameters(self, view) -> list[dict]:
        limit, offset = super().get_schema_operation_parameters(view)
        limit["schema"] = {"type": "integer", "minimum": 1}
        limit["description"] = (
            f"Number of results to return per page (at most {self.max_limit}; more is taken "
            "as that maximum)."
        )
        offset["schema"] = {"type": "integer", "minimum": 0}
        return [limit, offset]


class BoundedCursorPagination(CursorPagination):
    """Keyset pages whose cursor's position must fit the ordering field (else 404)."""

    def paginate_queryset(self, queryset, request, view=None):
        self.model = queryset.model
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            self._check_position(cursor.position)
        return cursor

    def _check_position(self, position: str) -> None:
        if "\x00" in position:
            raise NotFound(self.invalid_cursor_message)
        name = self.ordering[0].lstrip("-")
        try:
            field = self.model._meta.get_field(name)
        except FieldDoesNotExist:
            return
        try:
            field.run_validators(field.to_python(position))
        except ValidationError as exc:
            raise NotFound(self.invalid_cursor_message) from exc
