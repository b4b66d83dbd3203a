"""The shared cache (CACHE_URL=redis://...): Django's Redis backend, one client per pool."""

from django.core.cache.backends import redis as django_redis


class RedisCacheClient(django_redis.RedisCacheClient):
    """Django's client, keeping one ``redis.Redis`` per connection pool.

    Django builds a new ``redis.Redis`` for every cache call, and its constructor fills
    a table of some 170 response callbacks: 0.08 ms of CPU, a third of a ``cache.get``
    on loopback, three times per API request (the address's failure count, the rate
    limit's read and write). A client holds nothing but its pool, which hands out the
    connections and is safe across threads, so one per pool does.
    """

    def get_client(self, key=None, *, write=False):
        # Django's own attributes, which django-stubs leave out.
        pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
        clients: dict[int, object] = self.__dict__.setdefault("_clients", {})
        client = clients.get(id(pool))
        if client is None:
            client = clients[id(pool)] = self._client(connection_pool=pool)  # type: ignore[attr-defined]
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
