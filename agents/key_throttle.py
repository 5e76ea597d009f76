"""A limit on failed key authentications per client address: past
AUTONOMY_KEY_FAILURE_LIMIT failures in a minute, a failed key is answered 429
`too_many_failed_authentications` with Retry-After until the minute is over.

Only failures are counted and only a failure checks the count (one cache round trip, an
INCR on the address's counter of this minute), so a valid key never pays for it and is
never refused by it, even from an address that is throttled (a NAT or a proxy shared with
a misbehaving client). A key is 32 random characters: guessing one is hopeless, so the
limit is there to slow down and show a client that keeps sending bad keys, not to stand
between a guess and success.
"""

import time

from django.conf import settings
from django.core.cache import cache
from rest_framework.exceptions import Throttled

from autonomy.core.client_address import client_address

__all__ = ["WINDOW_SECONDS", "note_failure"]

WINDOW_SECONDS = 60
CODE = "too_many_failed_authentications"


def note_failure(request) -> None:
    """Count a failed key authentication of `request`'s address; raise 429 once the
    address is over the limit for the current minute."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    name = f"key-failures:{client_address(request) or 'unknown'}:{window}"
    # add() then incr(): the counter expires with its minute (add is a no-op once it exists).
    cache.add(name, 0, timeout=WINDOW_SECONDS + 1)
    try:
        failures = cache.incr(name)
    except ValueError:  # expired between the two calls: the minute is over
        return
    if failures > settings.AUTONOMY_KEY_FAILURE_LIMIT:
        wait = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
        raise Throttled(
            wait=wait,
            detail="Too many failed authentications from this address; try again later.",
            code=CODE,
        )
