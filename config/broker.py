"""The Redis broker transport, with one fault of kombu 5.7 worked around.

When the broker connection drops while tasks are unacknowledged (acks_late: every
running batch), Celery closes the old connection; closing its channel restores the
unacked messages through a new client, built from connection parameters the closed
connection no longer has (``self.connection.client`` is None). kombu then raises
``AttributeError: 'NoneType' object has no attribute 'hostname'`` in
``Channel._connparams``, which is not one of the errors the cleanup ignores, and the
worker exits with "Unrecoverable error" (seen once in about ten Redis restarts under
load; kombu 5.7.0 is the newest release and still does it).

Here that case is a connection error instead, which the cleanup does ignore: the
worker reconnects like after any other drop. The messages it could not restore stay
in Redis' unacked set and come back after the visibility timeout, or are gone with a
Redis that lost its data; either way the database decides, and the next sweep
dispatches every pending batch again. Registered for ``redis://`` and ``rediss://``
by config.celery.
"""

from __future__ import annotations

import redis
from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        if self.connection.client is None:
            raise redis.exceptions.ConnectionError(
                "the broker connection was closed before its unacked messages could be restored"
            )
        return super()._connparams(asynchronous=asynchronous)  # type: ignore[misc]  # untyped


class Transport(kombu_redis.Transport):
    Channel = Channel


def use_patched_redis_transport() -> None:
    from kombu import transport

    for scheme in ("redis", "rediss"):
        transport.TRANSPORT_ALIASES[scheme] = "config.broker:Transport"
