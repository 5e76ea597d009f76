"""The API's JSON parser: JSON as DRF parses it, minus what PostgreSQL cannot store.

PostgreSQL refuses the NUL character (\\u0000) in text and jsonb, so a request carrying one
anywhere (a payload value, a reason, a key) would fail at its first INSERT with a 500, after
the work before it. It is refused here instead, as a 400 parse error, before anything runs.
"""

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

__all__ = ["JSONWithoutNulParser"]


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


class JSONWithoutNulParser(JSONParser):
    """DRF's JSONParser that refuses text containing the NUL character (\\u0000)."""

    def parse(self, stream, media_type=None, parser_context=None):
        data = super().parse(stream, media_type, parser_context)
        if _holds_nul(data):
            raise ParseError("Text may not contain the NUL character (\\u0000).")
        return data
