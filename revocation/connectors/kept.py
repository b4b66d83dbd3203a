"""Target connections kept from one batch to the next within one batch task.

A batch task claims batch after batch of one system for up to
SUNDOWN_REVOCATION_TASK_SECONDS; each batch builds its connector afresh, and the
PostgreSQL connector opened a new connection every time: a new backend on the target
and its cold catalog caches, ~5 ms of a 1,000-role batch's wall time (scratch
harness; 9.3 -> 8.1-8.3 s for the revocation bench's 100,000). Inside
``kept_connections()`` a connector (PostgreSQL, MariaDB, Redis) that closes a healthy,
idle connection hands it over instead, and the next batch's connector of the same system,
configuration and checked address takes it. Nothing outlives the block: it closes
whatever is left when the task's loop ends, so no connection sits idle on a target
between tasks, and a changed configuration or secret is connected anew by the next
task at the latest (within seconds). A connection that failed is closed, never handed
on; one the target dropped while kept (a restart between two batches, milliseconds
apart) fails the next batch's first call as a lost connection, which defers that
batch to the outage probe like any other connection lost mid-batch.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Hashable, Iterator
from typing import Any

logger = logging.getLogger(__name__)

_kept: contextvars.ContextVar[dict[Hashable, Any] | None] = contextvars.ContextVar(
    "sundown_kept_connections", default=None
)


@contextlib.contextmanager
def kept_connections() -> Iterator[None]:
    """Within the block, connectors may hand connections on (``keep``/``take``)."""
    kept: dict[Hashable, Any] = {}
    token = _kept.set(kept)
    try:
        yield
    finally:
        _kept.reset(token)
        for conn in kept.values():
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a connection nobody will use again
                logger.warning("could not close a kept target connection", exc_info=True)


def key_for(connector: Any, address: object) -> tuple:
    """What a kept connection is kept under: the system, its whole configuration and
    the address just checked for it (a connection never serves another system, another
    configuration or an address the allowlist has since refused)."""
    return (
        type(connector).__name__,
        connector.system.pk,
        repr(sorted(connector.config.items())),
        str(address),
    )


def take(key: Hashable) -> Any | None:
    """The connection kept under ``key``, now the caller's (None outside a block)."""
    kept = _kept.get()
    return None if kept is None else kept.pop(key, None)


def keep(key: Hashable, conn: Any) -> bool:
    """Hand ``conn`` on under ``key``; False outside a block (the caller closes it)."""
    kept = _kept.get()
    if kept is None or key in kept:
        return False
    kept[key] = conn
    return True
