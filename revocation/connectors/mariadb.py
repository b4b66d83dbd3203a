"""MariaDB (10.4+) accounts.

``system.config``: ``host``, ``port`` (3306), ``user`` (the connector's own
account), ``timeout`` (connect timeout in seconds, 5), ``statement_timeout_ms``
(10000: ``max_statement_time``), ``lock_timeout_ms`` (5000: ``lock_wait_timeout``
and ``innodb_lock_wait_timeout``, rounded up to whole seconds), ``read_timeout``
(seconds, the statement timeout plus 2: a server that stops answering mid-call is
cut there, as a transient error), ``on_revoke``: ``"lock"`` (default,
``ALTER USER ... ACCOUNT LOCK``: the account and its grants stay on record but
no login succeeds) or ``"drop"`` (``DROP USER``). The connector's password is
the system secret. It needs CREATE USER, PROCESS, CONNECTION ADMIN and SELECT
on ``mysql.global_priv``.

A credential's ``external_id`` is ``user@host`` (``vendor@%``) for one account,
or a bare ``user`` for every account of that name. MariaDB picks the account by
the client's host, so ``vendor@%`` locked leaves ``vendor@localhost`` and
``vendor@127.0.0.1`` logging in: ``other_hosts`` says what happens to the other
host accounts of a ``user@host`` credential's user name: ``"lock"`` (default)
revokes them too, ``"report"`` leaves them and fails the credential naming them
(never verified while one still logs in). A name that is a role, not a user, is
a permanent error: locking a role changes nothing about who can log in. After the lock, the
connections of that user name are killed: MariaDB checks the lock only at
login, so an open session would otherwise keep working. PROCESSLIST knows the
user name but not the account's host pattern, so all sessions of the name go.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import pymysql
from pymysql.constants import ER

from access.models import Credential
from revocation.connectors import kept
from revocation.connectors.meta.mariadb import META

from .base import Account, BatchConnector, ConnectorError, close_matches

LOCK = "lock"
DROP = "drop"

# Client-side errors (2000+) mean we never reached or lost the server.
_FIRST_CLIENT_ERROR = 2000
_UNKNOWN_THREAD = ER.NO_SUCH_THREAD  # the session ended before we killed it
# Server errors that pass by themselves: a lock not granted in time, a statement cut
# at max_statement_time (1969, not in pymysql's list), a deadlock victim.
_TRANSIENT = {ER.LOCK_WAIT_TIMEOUT, ER.LOCK_DEADLOCK, 1969}


def _same_host(a: str, b: str) -> bool:
    return a.lower() == b.lower()  # MariaDB compares host names without case


def _split(external_id: str) -> tuple[str, str | None]:
    user, sep, host = external_id.rpartition("@")
    return (user, host) if sep else (external_id, None)


class MariaDBConnector(BatchConnector):
    """Locks (or drops) MariaDB accounts, a whole batch in one statement."""

    config_keys = META.config_keys
    destination_keys = frozenset({"host", "port", "user"})
    config_help = META.config_help
    secret_help = META.secret_help

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        return [cls.host_port(config, 3306)]

    def __init__(self, system):
        super().__init__(system)
        self.on_revoke = self.choice("on_revoke", (LOCK, DROP))
        self.other_hosts = self.choice("other_hosts", (LOCK, "report"))
        try:
            self.connect_timeout = int(self.config.get("timeout", 5))
            self.statement_ms = int(self.config.get("statement_timeout_ms", 10000))
            self.lock_s = max(1, -(-int(self.config.get("lock_timeout_ms", 5000)) // 1000))
            self.read_timeout = float(self.config.get("read_timeout", self.statement_ms / 1000 + 2))
        except (TypeError, ValueError) as exc:
            raise ConnectorError(
                "mariadb systems: timeout, statement_timeout_ms, lock_timeout_ms and "
                "read_timeout must be numbers",
                permanent=True,
            ) from exc
        self._conn: pymysql.connections.Connection | None = None
        self._kept_key: tuple = ()

    # Connection ------------------------------------------------------------
    def _connection(self) -> pymysql.connections.Connection:
        if self._conn is None:
            [addresses] = self.checked_destinations()
            self._kept_key = kept.key_for(self, addresses[0])
            conn = kept.take(self._kept_key)
            if conn is not None and conn.open:
                self._conn = conn
                return conn
            try:
                self._conn = pymysql.connect(
                    # The address just checked, not the name again (it could now
                    # resolve elsewhere); no TLS here that would need the name.
                    host=str(addresses[0]),
                    port=int(self.config.get("port", 3306)),
                    user=self.config.get("user", "root"),
                    password=self.system.get_secret(),
                    connect_timeout=self.connect_timeout,
                    # pymysql's read/write timeouts are the client's deadline per call:
                    # a frozen server or a black-holed network fails the batch here.
                    read_timeout=self.read_timeout,
                    write_timeout=self.read_timeout,
                    # The server's own: a statement or a lock wait that would outlast
                    # the batch's lease is given up (the ACL tables' metadata locks
                    # wait a year by default).
                    init_command=(
                        f"SET SESSION max_statement_time={self.statement_ms / 1000:g}, "
                        f"lock_wait_timeout={self.lock_s}, "
                        f"innodb_lock_wait_timeout={self.lock_s}"
                    ),
                    autocommit=True,
                    charset="utf8mb4",
                )
            except pymysql.Error as exc:
                code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
                # A server error (access denied) cannot be fixed by retrying; a client
                # one (2000+: unreachable, lost) may.
                raise self.connect_failed(exc, permanent=0 < code < _FIRST_CLIENT_ERROR) from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # Open (autocommit: never inside a transaction): the task's next batch may
            # use it (revocation.connectors.kept). An already broken connection has
            # nothing left to release.
            if not (conn.open and kept.keep(self._kept_key, conn)):
                with contextlib.suppress(pymysql.Error):
                    conn.close()

    def _discard(self) -> None:
        """Close the connection for good: one that failed is never handed on."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(pymysql.Error):
                conn.close()

    def _run(self, sql: str, params=(), *, ignore: tuple[int, ...] = ()) -> list[tuple]:
        try:
            with self._connection().cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        except pymysql.Error as exc:
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            if code in ignore:
                return []
            if code >= _FIRST_CLIENT_ERROR or isinstance(exc, pymysql.err.InterfaceError):
                self._discard()  # a broken connection must not be reused
                raise ConnectorError(f"MariaDB unreachable: {exc}", unreachable=True) from exc
            if code in _TRANSIENT:
                raise ConnectorError(f"MariaDB gave up waiting: {exc}") from exc
            # Access denied, missing privilege, unsupported syntax: retrying cannot help.
            raise ConnectorError(f"MariaDB refused: {exc}", permanent=True) from exc

    def probe(self) -> None:
        self._run("SELECT 1")

    # Reading the target ----------------------------------------------------
    def _accounts(self, users: set[str]) -> list[tuple[str, str, bool]]:
        """(user, host, locked) of every user account with one of these names."""
        return [(u, h, locked) for u, h, locked, role in self._entries(users) if not role]

    def _entries(self, users: set[str]) -> list[tuple[str, str, bool, bool]]:
        """(user, host, locked, is_role) of every entry with one of these names, one query."""
        if not users:
            return []
        rows = self._run(
            "SELECT User, Host, COALESCE(JSON_VALUE(Priv, '$.account_locked'), 0), "
            "COALESCE(JSON_VALUE(Priv, '$.is_role'), 0) "
            "FROM mysql.global_priv WHERE User IN %s",
            (tuple(sorted(users)),),
        )
        return [
            (user, host, str(locked) in ("1", "true"), str(role) in ("1", "true"))
            for user, host, locked, role in rows
        ]

    def _matching(self, credential: Credential, accounts: list[tuple[str, str, bool]]):
        """The accounts this credential revokes: its own, and with ``other_hosts: lock``
        every other host account of the same user name."""
        user, host = _split(credential.external_id)
        if host is None or self.other_hosts == LOCK:
            return [a for a in accounts if a[0] == user]
        return [a for a in accounts if a[0] == user and _same_host(a[1], host)]

    # Connector interface ---------------------------------------------------
    def missing(self, credentials: Iterable[Credential]) -> dict[int, list[str]]:
        credentials = list(credentials)
        if not credentials:
            return {}
        # User names are case-sensitive, host names are not: fold only to find
        # what a person may have meant (peer_x@% when there is peer_x@localhost).
        rows = self._run(
            "SELECT User, Host FROM mysql.global_priv WHERE LOWER(User) IN %s",
            (tuple(sorted({_split(c.external_id)[0].lower() for c in credentials})),),
        )
        names = [f"{user}@{host}" for user, host in rows]
        result: dict[int, list[str]] = {}
        for credential in credentials:
            user, host = _split(credential.external_id)
            found = any(u == user and (host is None or h.lower() == host.lower()) for u, h in rows)
            if not found:
                result[credential.pk] = close_matches(credential.external_id, names)
        return result

    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        own = self.config.get("user", "root")
        refused: dict[int, ConnectorError | None] = {
            # Locking the account Sundown connects as would lock Sundown out of the
            # target (every host pattern of that name): a person has to do that.
            c.pk: ConnectorError(
                f"Refusing to revoke {c.external_id!r}: Sundown connects as {own!r}",
                permanent=True,
            )
            for c in credentials
            if _split(c.external_id)[0] == own
        }
        credentials = [c for c in credentials if c.pk not in refused]
        if not credentials:
            return refused
        users = {_split(c.external_id)[0] for c in credentials}
        entries = self._entries(users)
        roles = {u for u, _, _, role in entries if role}
        accounts = [(u, h, locked) for u, h, locked, role in entries if not role]
        for credential in credentials:
            user = _split(credential.external_id)[0]
            if user in roles and not any(a[0] == user for a in accounts):
                refused[credential.pk] = ConnectorError(
                    f"{user!r} is a role, not a user: nobody logs in as a role, so locking "
                    "it would change nothing. Name the user accounts that hold it.",
                    permanent=True,
                )
        credentials = [c for c in credentials if c.pk not in refused]
        targets = sorted({(u, h) for c in credentials for u, h, _ in self._matching(c, accounts)})
        if targets:
            # One statement for the batch; IF EXISTS makes a concurrent drop harmless.
            placeholders = ", ".join(["%s@%s"] * len(targets))
            params = [part for account in targets for part in account]
            if self.on_revoke == DROP:
                self._run(f"DROP USER IF EXISTS {placeholders}", params)
            else:
                self._run(f"ALTER USER IF EXISTS {placeholders} ACCOUNT LOCK", params)
            self._kill_sessions({u for u, _ in targets})
        # Credentials with no account on the target are already gone: success.
        # (Whether "no account" may count as revoked is the engine's call, from missing.)
        return {**{c.pk: self._others_left(c, accounts) for c in credentials}, **refused}

    def _others_left(self, credential: Credential, accounts) -> ConnectorError | None:
        """With ``other_hosts: report``, the user's other host accounts that were left."""
        user, host = _split(credential.external_id)
        if host is None or self.other_hosts == LOCK:
            return None
        others = sorted(f"{u}@{h}" for u, h, _ in accounts if u == user and not _same_host(h, host))
        if not others:
            return None
        return ConnectorError(
            f"{credential.external_id} is revoked, but the same user name also has the "
            f"accounts {', '.join(others)}, which MariaDB lets log in from their hosts; "
            "other_hosts is 'report', so Sundown left them. Revoke them by hand or set "
            "other_hosts to 'lock'.",
            permanent=True,
        )

    def _kill_sessions(self, users: set[str]) -> None:
        rows = self._run(
            "SELECT ID FROM information_schema.PROCESSLIST "
            "WHERE USER IN %s AND ID <> CONNECTION_ID()",
            (tuple(sorted(users)),),
        )
        for (thread_id,) in rows:
            self._run("KILL CONNECTION %s", (int(thread_id),), ignore=(_UNKNOWN_THREAD,))

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        credentials = list(credentials)
        users = {_split(c.external_id)[0] for c in credentials}
        accounts = self._accounts(users)
        # A locked account whose old session survived still has access.
        with_sessions = (
            {
                user
                for (user,) in self._run(
                    "SELECT DISTINCT USER FROM information_schema.PROCESSLIST "
                    "WHERE USER IN %s AND COMMAND <> 'Killed' AND ID <> CONNECTION_ID()",
                    (tuple(sorted(users)),),
                )
            }
            if users
            else set()
        )
        active = set()
        for credential in credentials:
            # Every host account of the user name counts, whatever other_hosts says:
            # vendor@% locked while vendor@localhost logs in is not revoked.
            user = _split(credential.external_id)[0]
            unlocked = any(not locked for u, _, locked in accounts if u == user)
            if unlocked or _split(credential.external_id)[0] in with_sessions:
                active.add(credential.pk)
        return active

    def list_accounts(self) -> list[Account]:
        rows = self._run(
            "SELECT User, Host, COALESCE(JSON_VALUE(Priv, '$.account_locked'), 0) "
            "FROM mysql.global_priv WHERE User <> '' ORDER BY User, Host"
        )
        # PROCESSLIST names the user and the client's address, not which host
        # account matched: a user's sessions are shown on each of its accounts.
        sessions: dict[str, list[str]] = {}
        for user, client in self._run(
            "SELECT USER, SUBSTRING_INDEX(HOST, ':', 1) FROM information_schema.PROCESSLIST "
            "WHERE USER <> '' AND COMMAND <> 'Daemon'"
        ):
            sessions.setdefault(user, []).append(client)
        return [
            Account(
                external_id=f"{user}@{host}",
                active=str(locked) not in ("1", "true"),
                detail="locked" if str(locked) in ("1", "true") else "",
                sessions=len(sessions.get(user, ())),
                sources=tuple(sorted({s for s in sessions.get(user, ()) if s})),
            )
            for user, host, locked in rows
        ]
