"""Handing live messages to the channel layer from synchronous code, on the committing thread.

`send((groups, message), ...)` returns once the layer has taken every message for every
one of its groups, in the order given. With channels_redis's pub/sub layer (production)
it does what the layer's own `group_send` does, PUBLISH the serialized message on each
group's channel (`<prefix>__group__<group>`, channels_redis.pubsub), for all the messages
in one pipelined round trip from the calling thread. It does not call `group_send`
itself: from a thread without an event loop that needs a loop per thread, or a hop to a
loop thread, and either costs several times the CPU and the wait of one push
(bench/RESULTS.md, "Live push"). That the channel names and the serialization are still the
layer's own is checked by tests/workflows/test_live.py, which receives what this sends
with the layer's own subscribers. Any other layer (the in-memory one, without Redis) gets
channels' public `group_send`.

Guarantees: one Redis client per URL and process, made once and shared by the process's
threads; a push waits at most about three PUSH_TIMEOUTs on a Redis that is down or hung
(one retry, for a pooled connection Redis closed), and raises then.
"""

import asyncio
import threading

import redis
from asgiref.sync import async_to_sync
from channels import DEFAULT_CHANNEL_LAYER
from channels.layers import get_channel_layer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["PUSH_TIMEOUT", "send"]

PUSH_TIMEOUT = 1.0  # seconds a push waits on Redis to connect, and to answer

_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis(url: str) -> redis.Redis:
    """The process's client for a Redis URL. Made once: a second client made by a
    concurrent first push would be dropped at once, and redis-py closes a dropped client's
    pool, connections in use by other pushes included. The client's pool is thread-safe
    and made anew after a fork."""
    client = _clients.get(url)
    if client is None:
        with _clients_lock:
            client = _clients.get(url)
            if client is None:
                client = _clients[url] = redis.Redis.from_url(
                    url,
                    socket_timeout=PUSH_TIMEOUT,
                    socket_connect_timeout=PUSH_TIMEOUT,
                    retry=Retry(NoBackoff(), retries=1),
                )
    return client


def _publish(layer: RedisPubSubChannelLayer, sends: list[tuple[list[str], dict]]) -> None:
    """The layer's group_send of every (groups, message) of `sends`, as one pipeline: one
    serialization per message, one round trip in all."""
    config = settings.CHANNEL_LAYERS[DEFAULT_CHANNEL_LAYER].get("CONFIG", {})
    hosts = config.get("hosts") or []
    if len(hosts) != 1 or not isinstance(hosts[0], str):
        raise ImproperlyConfigured("Live pushes need the channel layer's one Redis URL in hosts.")
    channel = f"{config.get('prefix', 'asgi')}__group__{{}}"
    pipeline = _redis(hosts[0]).pipeline(transaction=False)
    for groups, message in sends:
        payload = layer.serialize(message)
        for group in groups:
            pipeline.publish(channel.format(group), payload)
    pipeline.execute()


def send(*sends: tuple[list[str], dict]) -> None:
    """Send each (groups, message) to its groups; return once the layer has taken them."""
    layer = get_channel_layer()
    if isinstance(layer, RedisPubSubChannelLayer):
        _publish(layer, list(sends))
    elif layer is not None:
        # The in-memory layer: its queues belong to the consumers' loop, which
        # async_to_sync reaches from a thread sync_to_async runs.
        async def send_all() -> None:
            await asyncio.gather(
                *(layer.group_send(group, message) for groups, message in sends for group in groups)
            )

        async_to_sync(send_all)()
