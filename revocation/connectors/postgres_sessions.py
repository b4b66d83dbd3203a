"""PostgreSQL sessions: ending the vendor's, and keeping Sundown's own from hanging.

``terminate`` ends the sessions of revoked roles and of every login role that could
reach them (``pg_stat_activity`` shows only the session user, not a role set later).
The watchdog gives every call of the connector a client-side deadline: a server that
stops answering cancels nothing, so a thread cuts the socket of a call that overran.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable

from config.pgarray import text_array
from revocation.connectors.postgres_roles import Member

TERMINATE_WAIT_MS = 5000


def terminate(
    query: Callable[..., list[tuple]],
    server_version: int,
    names: list[str],
    members: dict[str, list[Member]],
) -> None:
    """End the sessions of the roles and of every login role that could reach them."""
    users = sorted({*names, *(m for n in names for m, _, login in members[n] if login)})
    if not users:
        return
    # pg_terminate_backend only signals; without the wait (PostgreSQL 14+) the
    # session is often still listed when the verify read comes a moment later.
    if server_version >= 140000:
        call, params = "pg_terminate_backend(pid, %s)", [TERMINATE_WAIT_MS, text_array(users)]
    else:
        call, params = "pg_terminate_backend(pid)", [text_array(users)]
    query(
        f"SELECT {call} FROM pg_stat_activity WHERE usename = ANY(%s::text[]) "
        "AND pid <> pg_backend_pid()",
        params,
    )


class Call:
    """One guarded call; ``cut`` says the watchdog ended it."""

    __slots__ = ("deadline", "fd", "cut")

    def __init__(self, deadline: float, fd: int):
        self.deadline = deadline
        self.fd = fd
        self.cut = False


class _Watchdog:
    """Cuts the socket of a call that overran its deadline: libpq has no read timeout.

    One daemon thread per process (started on first use, again after a fork), waking
    every 0.2 s. ``shutdown`` on the socket wakes libpq's blocked poll/recv, which then
    reports the connection closed; the call fails as a transient error instead of
    waiting for a frozen server. Arming a call costs a dict entry under a lock.
    """

    TICK = 0.2

    def __init__(self):
        self._lock = threading.Lock()
        self._calls: dict[int, Call] = {}
        self._pid = 0

    @contextlib.contextmanager
    def deadline(self, conn, seconds: float):
        call = Call(time.monotonic() + seconds, conn.fileno())
        key = id(call)
        with self._lock:
            self._calls[key] = call
            self._ensure_thread()
        try:
            yield call
        finally:
            with self._lock:
                self._calls.pop(key, None)

    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="postgres-call-watchdog", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.TICK)
            now = time.monotonic()
            with self._lock:
                for key, call in list(self._calls.items()):
                    if call.deadline <= now:
                        call.cut = True
                        del self._calls[key]
                        _shutdown(call.fd)


def _shutdown(fd: int) -> None:
    try:
        # A duplicate of the descriptor: shutdown acts on the socket itself, and the
        # duplicate is closed at once, leaving libpq's descriptor for it to close.
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


WATCHDOG = _Watchdog()
