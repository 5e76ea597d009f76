"""What every connector kind shares: the call's result, its error, and payload templating.

A connector kind turns one action's payload into one call to a system of record. It
returns a `Result` or raises `ConnectorError`, which says whether retrying may help
(`permanent=False`), never will (`permanent=True`), or whether the call may have taken
effect without us learning its outcome (`unknown_outcome=True`: never retried blindly).
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["EXCERPT_CHARS", "BaseConnector", "ConnectorError", "Result", "excerpt", "fill"]

# Enough of a response for a person to recognise it; the rest is not kept.
EXCERPT_CHARS = 2000


@dataclass(frozen=True)
class Result:
    """A call that took effect: what the system of record answered (`data`: its JSON)."""

    status_code: int | None = None
    excerpt: str = ""
    data: Any = None


class ConnectorError(Exception):
    """A call that did not (or may not have) taken effect.

    Args:
        message: what went wrong, for people (never a secret).
        permanent: retrying cannot help (bad request, refused host, missing field).
        unknown_outcome: the request was sent and its fate is unknown (a read timeout);
            it must go to a person, never be retried blindly.
        status_code, excerpt: the answer, when there was one.
    """

    def __init__(
        self,
        message: str,
        permanent: bool = False,
        *,
        unknown_outcome: bool = False,
        status_code: int | None = None,
        excerpt: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.unknown_outcome = unknown_outcome
        self.status_code = status_code
        self.excerpt = excerpt


class BaseConnector:
    """One connector kind. `row` is the Connector model instance (None for the built-in
    sandbox); `config` and `secrets` come from it."""

    kind = ""
    # The effect is a row of this database, written on the caller's connection: the
    # executor then calls it inside the claim's transaction (exactly once by atomicity).
    in_database = False

    def __init__(self, row=None) -> None:
        self.row = row
        self.config: dict = dict(row.config or {}) if row is not None else {}
        self.secrets: dict = dict(row.secrets or {}) if row is not None else {}

    @classmethod
    def config_errors(cls, config: dict, secrets: dict) -> list[str]:
        """What is wrong with a configuration of this kind (empty when usable)."""
        return []

    def describe(self) -> str:
        """The call's target as people may see it: no payload values, no secrets."""
        return self.kind

    def call_budget_seconds(self) -> float:
        """The longest one call can take. A call still unfinished after it (and a margin)
        belongs to a worker that died."""
        return 60.0

    def execute(self, action, payload: dict, idempotency_key: str) -> Result:
        """Perform the action once; the system of record gets `idempotency_key` so that it
        can recognise a repeat."""
        raise NotImplementedError


PLACEHOLDER = re.compile(r"\{payload((?:\.[A-Za-z0-9_-]+)+)\}")


def _lookup(payload: Any, path: str) -> Any:
    node = payload
    name = path.strip(".")
    for part in name.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConnectorError(
                f"The payload has no field {name!r}, which the connector's template needs.",
                permanent=True,
            )
        node = node[part]
    return node


def fill(template: Any, payload: dict, *, quote: Callable[[str], str] | None = None) -> Any:
    """`template` with every "{payload.a.b}" replaced by that payload field.

    Strings, lists and objects are walked (object keys are left alone). A string that is
    exactly one placeholder becomes the field's value with its JSON type (unless `quote`
    is given); inside longer text the value is inserted as text (JSON for non-strings),
    passed through `quote` when given (e.g. URL quoting). Nothing else is evaluated, so a
    payload value cannot inject template syntax or reach another field.
    """
    if isinstance(template, dict):
        return {key: fill(value, payload, quote=quote) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, payload, quote=quote) for value in template]
    if not isinstance(template, str):
        return template
    whole = PLACEHOLDER.fullmatch(template)
    if whole and quote is None:
        return _lookup(payload, whole.group(1))

    def substitute(match: re.Match) -> str:
        value = _lookup(payload, match.group(1))
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        return quote(text) if quote else text

    return PLACEHOLDER.sub(substitute, template)


def excerpt(body: bytes) -> str:
    """The start of a response body, as text."""
    return body[: EXCERPT_CHARS * 4].decode("utf-8", "replace")[:EXCERPT_CHARS]
