"""The API's JSON parser: JSON as DRF parses it, minus what we cannot store and send back.

Valid JSON can still hold values that fail later, after work has been done, as a 500:

- the NUL character (\\u0000): PostgreSQL refuses it in text and jsonb;
- a lone UTF-16 surrogate (\\ud800 to \\udfff, an escape not part of a pair): it is stored,
  then every response that includes it fails to encode as UTF-8, for good;
- nesting without limit: walking or rendering the data recurses until RecursionError;
- a number outside float range (1e400 parses to inf): the database's JSON check refuses it.

`json_storage_problem` names the first of these in parsed JSON, in one cheap iterative walk;
the parser refuses a body that has one as a 400 parse error, before anything runs.
"""

import re
from math import isfinite

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

__all__ = ["MAX_JSON_DEPTH", "StorableJSONParser", "json_storage_problem"]

#: The deepest nesting of arrays and objects accepted: the outermost one is level 1.
MAX_JSON_DEPTH = 64

NUL_MESSAGE = "Text may not contain the NUL character (\\u0000)."
SURROGATE_MESSAGE = (
    "Text may not contain a lone UTF-16 surrogate (\\ud800 to \\udfff); "
    "a character outside the Basic Multilingual Plane must be written as a surrogate pair."
)
DEPTH_MESSAGE = f"JSON may not nest arrays and objects more than {MAX_JSON_DEPTH} levels deep."
NUMBER_MESSAGE = "Numbers must be finite, within the range of a double (magnitude up to 1.8e308)."

_SURROGATE = re.compile(r"[\ud800-\udfff]")


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return NUL_MESSAGE
    # Surrogates are not ASCII, and isascii() only reads a flag: ASCII text costs no search.
    if not text.isascii() and _SURROGATE.search(text):
        return SURROGATE_MESSAGE
    return None


def json_storage_problem(value) -> str | None:
    """Why parsed JSON `value` cannot be stored and sent back, or None if it can.

    Refused, in keys and values at any depth: the NUL character, lone UTF-16 surrogates,
    nesting deeper than MAX_JSON_DEPTH, and non-finite numbers (inf, -inf, NaN). The walk
    is iterative, one level of nesting at a time, so input of any depth is safe to check.
    """
    level = [[value]]  # the value, in a list of its own at level 0
    depth = 0
    while level:
        deeper = []
        for container in level:
            if isinstance(container, dict):
                for key in container:
                    # Inline, the common case: ASCII text without NUL needs no call.
                    if (
                        isinstance(key, str)
                        and ("\x00" in key or not key.isascii())
                        and (problem := _text_problem(key))
                    ):
                        return problem
                children = container.values()
            else:
                children = container
            for item in children:
                if isinstance(item, str):
                    if ("\x00" in item or not item.isascii()) and (problem := _text_problem(item)):
                        return problem
                elif isinstance(item, (dict, list, tuple)):
                    deeper.append(item)
                elif isinstance(item, float) and not isfinite(item):
                    return NUMBER_MESSAGE
        if deeper:
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return DEPTH_MESSAGE
        level = deeper
    return None


class StorableJSONParser(JSONParser):
    """DRF's JSONParser that refuses JSON we cannot store and send back (see
    `json_storage_problem`): NUL, lone surrogates, deep nesting, non-finite numbers."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            # json's decoder recurses per level: thousands of levels exhaust the stack.
            raise ParseError(DEPTH_MESSAGE) from None
        if problem := json_storage_problem(data):
            raise ParseError(problem)
        return data
