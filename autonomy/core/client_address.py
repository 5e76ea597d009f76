"""The address a request came from, as sign-in lockout and the failed-key limit count it.

REMOTE_ADDR, unless AUTONOMY_PROXY_COUNT reverse proxies stand in front: each appends the
address it was reached from to X-Forwarded-For, so the client is the entry that many from
the right (entries further left are the client's to write, and trusted by nobody).
"""

from ipaddress import ip_address

from django.conf import settings

__all__ = ["client_address"]


def _address(text: str) -> str | None:
    try:
        return str(ip_address(text.strip()))
    except ValueError:
        return None


def client_address(request) -> str | None:
    """The client's IP address of `request` (a Django HttpRequest or DRF Request), or None
    when it has none (a request built in a test, a server on a Unix socket)."""
    meta = request.META
    proxies = settings.AUTONOMY_PROXY_COUNT
    if proxies > 0:
        forwarded = [part for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part]
        if len(forwarded) >= proxies and (found := _address(forwarded[-proxies])):
            return found
    return _address(meta.get("REMOTE_ADDR") or "")
