"""Django's Redis cache, with one reused client per connection pool.

Django's RedisCacheClient builds a new `redis.Redis` object for every cache call (the
pool, and so the TCP connections, are reused, but building the client registers ~170
response callbacks each time, several times per governed action; bench/RESULTS.md). A
`redis.Redis` object is thread-safe (each command takes a connection from the pool), so
one per pool serves every thread of the process.
"""

from django.core.cache.backends.redis import RedisCache, RedisCacheClient

__all__ = ["ReusedClientRedisCache"]


class _ReusingClient(RedisCacheClient):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, object] = {}

    def get_client(self, key=None, *, write=False):
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(
                connection_pool=self._get_connection_pool(write)
            )
        return client


class ReusedClientRedisCache(RedisCache):
    """`django.core.cache.backends.redis.RedisCache` that reuses its clients."""

    def __init__(self, server, params) -> None:
        super().__init__(server, params)
        self._class = _ReusingClient
