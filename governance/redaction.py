"""Sensitive payload fields are stored as keyed (salted) hashes, never in clear.

The same value always hashes the same way under one installation's key, so people can
still see that two requests carried the same account number without seeing it.
"""

import hashlib
import hmac
import json
from typing import Any

from django.conf import settings

__all__ = ["fingerprint", "redact"]

PREFIX = "hmac-sha256:"


def _key() -> bytes:
    configured = getattr(settings, "AUTONOMY_SENSITIVE_SALT", "")
    base = configured or f"autonomy-sensitive:{settings.SECRET_KEY}"
    return hashlib.sha256(base.encode()).digest()


def _hash(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return PREFIX + hmac.new(_key(), canonical.encode(), hashlib.sha256).hexdigest()


def redact(payload: Any, sensitive_fields: list[str] | tuple[str, ...]) -> Any:
    """A copy of `payload` with each sensitive field (a top-level key or a dotted path into
    nested objects) replaced by its keyed hash."""
    if not sensitive_fields or not isinstance(payload, dict):
        return payload
    result = json.loads(json.dumps(payload, default=str))
    for path in sensitive_fields:
        parts = path.split(".")
        node = result
        for part in parts[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if node is None:
                break
        if isinstance(node, dict) and parts[-1] in node:
            node[parts[-1]] = _hash(node[parts[-1]])
    return result


def fingerprint(value: Any) -> str:
    """A keyed hash of `value`'s canonical JSON: equal inputs give equal fingerprints, and a
    fingerprint of a payload reveals none of its (possibly sensitive) values."""
    return _hash(value)[len(PREFIX) :]
