"""PostgreSQL roles: ALTER ROLE ... NOLOGIN (or DROP ROLE), cut memberships, end sessions, verify.

System config: ``host``, ``port``, ``user``, ``dbname``, optional
``on_revoke`` ("nologin", the default, or "drop"), ``revoke_memberships``
(true by default), ``connect_timeout`` (s, 5), ``lock_timeout_ms`` (5000),
``statement_timeout_ms`` (10000) and ``read_timeout`` (s, the statement timeout
plus 2); the password is the system's encrypted secret. The
connecting user needs CREATEROLE (and to be a member of, or superuser over, roles
it drops), pg_signal_backend to end sessions, and SUPERUSER to revoke a
superuser role (refused up front, with that reason, otherwise).

Names are exact: ``peer_case`` is not the role ``"PEER_Case"`` (``missing``
names the close match instead). NOLOGIN alone leaves a role reachable: every
role that is a member of it, directly or through other roles, can ``SET ROLE``
to it and inherits its privileges. So the revocation also revokes the role's
direct memberships (cutting every path through it), reports the login roles that
had a path (in the ``credential.revoked`` event), and ends their sessions, since
``pg_stat_activity`` shows only the session user, not a role set later. With
``revoke_memberships: false`` such a role is not revoked: a permanent error
names the members. Verify reads ``pg_auth_members`` as well as LOGIN and sessions.

Order matters: NOLOGIN and the membership revokes commit first, then sessions
end, then (drop mode) REASSIGN/DROP OWNED and DROP ROLE run in their own
transaction. A failed drop (objects in another database, no right to reassign)
or a lock timeout therefore leaves a role that cannot log in and has no
sessions; the credential fails with the drop's error. The connector refuses to
revoke its own login role.

Timeouts, all well inside the batch's lease (SUNDOWN_REVOCATION_LEASE_SECONDS): the
server cancels a statement after ``statement_timeout_ms`` and a lock wait after
``lock_timeout_ms``, but a server that stops answering (a frozen process, a full
disk, a network black hole) cancels nothing. So every call also has a client-side
deadline, ``read_timeout``: a watchdog thread cuts the connection's socket when a
call overruns it, libpq sees the connection end, and the call fails as a transient
error for that batch. TCP keepalives and ``tcp_user_timeout`` end a connection whose
peer vanished from the network even when no call is running.

By topic: this module holds the config, the connection and the revoke and verify
steps; the role graph (memberships) is in ``postgres_roles``, ending sessions and the
call watchdog in ``postgres_sessions``, listing accounts in ``postgres_listing``.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg2
from psycopg2 import errorcodes, sql
from psycopg2.extensions import STATUS_READY, quote_ident

from access.destinations import DestinationRefused
from access.models import Credential
from config.pgarray import text_array
from revocation.connectors import kept
from revocation.connectors import postgres_listing as listing
from revocation.connectors import postgres_roles as roles
from revocation.connectors import postgres_sessions as sessions
from revocation.connectors.base import Account, BatchConnector, ConnectorError
from revocation.connectors.meta.postgres import META
from revocation.connectors.postgres_sessions import WATCHDOG, Call

# SQLSTATEs that no retry can fix: the target refuses on principle.
PERMANENT = {
    errorcodes.INSUFFICIENT_PRIVILEGE,
    errorcodes.DEPENDENT_OBJECTS_STILL_EXIST,
    errorcodes.INVALID_PARAMETER_VALUE,
    errorcodes.FEATURE_NOT_SUPPORTED,
}
# libpq gives no SQLSTATE for a refused connection, only the server's FATAL text:
# these say the server refused *us* (password, role, database, pg_hba), which only a
# person fixing the system's settings can change. Anything else (refused socket,
# timeout, "starting up", too many clients) may pass by itself.
REFUSED_LOGIN = (
    "authentication failed",
    "does not exist",
    "no pg_hba.conf entry",
    "pg_hba.conf rejects",
    "is not permitted to log in",
    "password is required",
    "permission denied for database",
)
RESERVED = ("pg_",)
# The client's deadline exceeds the server's statement timeout by this much, so a
# server that answers cancels its own statement first (with a clearer error).
READ_MARGIN_S = 2
RIGHTS = (
    "; the connector's role lacks the rights for this: it needs CREATEROLE, "
    "pg_signal_backend, membership in roles it drops, and SUPERUSER for superuser roles"
)


class PostgresConnector(BatchConnector):
    config_keys = META.config_keys
    destination_keys = frozenset({"host", "port", "user", "dbname"})
    config_help = META.config_help
    secret_help = META.secret_help

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        dbname = config.get("dbname", "postgres")
        # libpq reads a dbname holding "=" or a URI as a whole connection string.
        if not isinstance(dbname, str) or "=" in dbname or "://" in dbname:
            raise DestinationRefused("dbname must be a database name, not a connection string.")
        return [cls.host_port(config, 5432)]

    def __init__(self, system):
        super().__init__(system)
        self.mode = self.choice("on_revoke", ("nologin", "drop"))
        revoke_memberships = self.config.get("revoke_memberships", True)
        if not isinstance(revoke_memberships, bool):
            raise ConnectorError(
                "postgres systems: revoke_memberships must be true or false", permanent=True
            )
        self.revoke_memberships = revoke_memberships
        try:
            self.lock_ms = int(self.config.get("lock_timeout_ms", 5000))
            self.statement_ms = int(self.config.get("statement_timeout_ms", 10000))
            self.connect_timeout = int(self.config.get("connect_timeout", 5))
            self.read_timeout = float(
                self.config.get("read_timeout", self.statement_ms / 1000 + READ_MARGIN_S)
            )
        except (TypeError, ValueError) as exc:
            raise ConnectorError(
                "postgres systems: connect_timeout, lock_timeout_ms, statement_timeout_ms "
                "and read_timeout must be numbers",
                permanent=True,
            ) from exc
        self._conn = None
        self._kept_key: tuple = ()
        self._me: tuple[str, bool] | None = None
        # Login roles that could reach each revoked role: their sessions count in
        # the verify read of this batch, since a SET ROLE does not show.
        self._reached: dict[str, set[str]] = {}

    # Connection ------------------------------------------------------------
    def _connect(self):
        if self._conn is None:
            [addresses] = self.checked_destinations()
            self._kept_key = kept.key_for(self, addresses[0])
            conn = kept.take(self._kept_key)
            if conn is not None and not conn.closed and conn.status == STATUS_READY:
                self._conn = conn
                return conn
            try:
                self._conn = psycopg2.connect(
                    host=self.config.get("host", "127.0.0.1"),
                    # Connect to the address just checked; host still names the server
                    # for TLS. (No second lookup that could answer differently.)
                    hostaddr=str(addresses[0]),
                    port=int(self.config.get("port", 5432)),
                    user=self.config.get("user", "postgres"),
                    dbname=self.config.get("dbname", "postgres"),
                    password=self.system.get_secret() or None,
                    connect_timeout=self.connect_timeout,
                    application_name="sundown-revocation",
                    # A role locked by someone else's open transaction must not hang
                    # the batch past its lease: give up, and let the ladder retry.
                    options=(
                        f"-c lock_timeout={self.lock_ms} -c statement_timeout={self.statement_ms}"
                    ),
                    # A peer gone from the network: unacknowledged data or silent
                    # keepalives end the connection in seconds, not the kernel's minutes.
                    keepalives=1,
                    keepalives_idle=5,
                    keepalives_interval=2,
                    keepalives_count=3,
                    tcp_user_timeout=int(self.read_timeout * 1000),
                )
            except psycopg2.Error as exc:
                # Down or unreachable may come back: the retry ladder decides. Refusing
                # our credentials will not change until someone fixes them.
                refused = any(text in str(exc) for text in REFUSED_LOGIN)
                raise self.connect_failed(exc, permanent=refused) from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            # Healthy and outside a transaction: the task's next batch may use it
            # (revocation.connectors.kept); otherwise, or outside a batch task, closed.
            if conn.closed or conn.status != STATUS_READY or not kept.keep(self._kept_key, conn):
                conn.close()

    def _query(self, query, params=None) -> list[tuple]:
        conn = self._connect()
        call = None
        try:
            with WATCHDOG.deadline(conn, self.read_timeout) as call:
                with conn.cursor() as cursor:
                    cursor.execute(query, params)
                    rows = cursor.fetchall() if cursor.description else []
                conn.commit()
            return rows
        except psycopg2.Error as exc:
            self._abort(conn)
            raise self._failure(exc, call) from exc

    def _failure(self, exc: psycopg2.Error, call: Call | None) -> ConnectorError:
        if call is not None and call.cut:
            return ConnectorError(
                f"PostgreSQL did not answer within {self.read_timeout:g} s (a stalled "
                "server or network); the connection was cut",
                unreachable=True,
            )
        if isinstance(exc, psycopg2.OperationalError | psycopg2.InterfaceError) and (
            self._conn is None or self._conn.closed
        ):
            # The server went away mid-call (restart, crash, reset): the target, not
            # this credential, is the problem.
            return ConnectorError(f"PostgreSQL connection lost: {exc}".strip(), unreachable=True)
        return _error(exc)

    def _abort(self, conn) -> None:
        if conn.closed:
            self._discard()
            return
        try:
            with WATCHDOG.deadline(conn, self.read_timeout):
                conn.rollback()
        except psycopg2.Error:
            self._discard()

    def _discard(self) -> None:
        """Close the connection for good: one that failed is never handed on."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()

    def probe(self) -> None:
        self._query("SELECT 1")

    def _whoami(self) -> tuple[str, bool]:
        if self._me is None:
            ((name, superuser),) = self._query(
                "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = session_user"
            )
            self._me = (name, superuser)
        return self._me

    # Interface -------------------------------------------------------------
    def list_accounts(self) -> list[Account]:
        return listing.accounts(self._query)

    def missing(self, credentials: Iterable[Credential]) -> dict[int, list[str]]:
        return listing.missing(self._query, credentials)

    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        credentials = list(credentials)
        results: dict[int, ConnectorError | None] = {}
        names: dict[str, list[int]] = {}
        own = self.config.get("user", "postgres")
        for credential in credentials:
            name = credential.external_id
            if not name or name.startswith(RESERVED):
                results[credential.pk] = ConnectorError(
                    f"{name!r} is not a role Sundown may revoke", permanent=True
                )
            elif name == own:
                # NOLOGIN on the role Sundown connects as would lock Sundown (and
                # whoever shares it) out of the target: a person has to do that.
                results[credential.pk] = ConnectorError(
                    f"Refusing to revoke {name!r}: it is the role Sundown connects as "
                    "(the connector's own login role). Revoke it by hand.",
                    permanent=True,
                )
            else:
                names.setdefault(name, []).append(credential.pk)
        if not names:
            return results  # refused without a connection
        me, i_am_superuser = self._whoami()
        if me in names:  # the same role under another spelling of the config (a login alias)
            for pk in names.pop(me):
                results[pk] = ConnectorError(
                    f"Refusing to revoke {me!r}: it is the role Sundown connects as",
                    permanent=True,
                )
        if not names:
            return results
        superusers = dict(
            self._query(
                "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = ANY(%s::text[])",
                [text_array(names)],
            )
        )
        # A role that does not exist is already gone; the engine decides (from
        # missing) whether that may count as revoked.
        errors: dict[str, ConnectorError] = {}
        for name, superuser in superusers.items():
            if superuser and not i_am_superuser:
                errors[name] = ConnectorError(
                    f"{name!r} is a superuser role: only a superuser can take its login "
                    f"away, and the connector's role {me!r} is not one. Revoke it by hand "
                    "or give this system a superuser connector account.",
                    permanent=True,
                )
        members = self._members([n for n in superusers if n not in errors])
        for name, rows in members.items():
            if rows and not self.revoke_memberships and name not in errors:
                listed = ", ".join(sorted(m for m, _, _ in rows))
                errors[name] = ConnectorError(
                    f"roles {listed} are members of {name!r} and can SET ROLE to it; "
                    "revoke_memberships is off, so Sundown leaves them and cannot call "
                    "the access gone",
                    permanent=True,
                )
        todo = sorted(n for n in superusers if n not in errors)
        errors |= self._in_batches(todo, lambda batch: self._lock(batch, members))
        # Sessions end whether or not the lock went through: a vendor must not keep
        # working because a statement timed out.
        self._terminate(todo, members)
        if self.mode == "drop":
            errors |= self._in_batches([n for n in todo if n not in errors], self._drop)
        for name, pks in names.items():
            for pk in pks:
                results[pk] = errors.get(name)
                note = roles.reached_note(name, members.get(name, []))
                if name not in errors and note:
                    self.notes[pk] = note
        return results

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        credentials = list(credentials)
        names = sorted({c.external_id for c in credentials})
        if not names:
            return set()
        # One read for the whole batch: a role is still active if it can log in
        # (nologin mode) or exists at all (drop mode), if another role is still a
        # member (SET ROLE), or if it has a session, its own or a member's.
        login_check = "TRUE" if self.mode == "drop" else "rolcanlogin"
        reached = sorted({m for n in names for m in self._reached.get(n, ())})
        named = text_array(names)
        # The named roles through the name index first (as roles.MEMBERS does): a
        # join let the planner compare every role of the cluster with the batch.
        rows = self._query(
            "WITH named AS MATERIALIZED ("
            "  SELECT oid, rolname, rolcanlogin FROM pg_roles WHERE rolname = ANY(%s::text[])) "
            f"SELECT rolname, NULL FROM named WHERE {login_check} "
            "UNION SELECT n.rolname, NULL FROM pg_auth_members a "
            "JOIN named n ON n.oid = a.roleid JOIN pg_roles u ON u.oid = a.member "
            "WHERE u.rolname <> session_user "
            "UNION SELECT usename, NULL FROM pg_stat_activity WHERE usename = ANY(%s::text[]) "
            "UNION SELECT NULL, usename FROM pg_stat_activity "
            "WHERE usename = ANY(%s::text[]) AND pid <> pg_backend_pid()",
            [named, named, text_array(reached)],
        )
        active = {name for name, _ in rows if name}
        with_session = {member for _, member in rows if member}
        for name in names:
            if self._reached.get(name, set()) & with_session:
                active.add(name)
        return {c.pk for c in credentials if c.external_id in active}

    # Work ------------------------------------------------------------------
    def _members(self, names: list[str]) -> dict[str, list[roles.Member]]:
        """Per role: (member, direct, can log in) of every role with a path to it."""
        found = roles.members_of(self._query, names)
        for name, rows in found.items():
            self._reached[name] = {m for m, _, login in rows if login}
        return found

    def _lock(self, names: list[str], members) -> None:
        # Quoted by libpq (quote_ident) straight into the text: composing a
        # psycopg2.sql object per role cost ten times the quoting on a batch of 1,000.
        conn = self._connect()
        statements: list[str | sql.Composed] = []
        for name in names:
            statements.append(f"ALTER ROLE {quote_ident(name, conn)} NOLOGIN")
            if self.revoke_memberships:
                statements += roles.membership_revokes(name, members)
        self._transaction(statements)

    def _drop(self, names: list[str]) -> None:
        statements: list[str | sql.Composed] = []
        for name in names:
            role = sql.Identifier(name)
            statements += [
                # Hand owned objects to us and drop grants so DROP ROLE can succeed;
                # the vendor's data stays, only the vendor's access goes.
                sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(role),
                sql.SQL("DROP OWNED BY {}").format(role),
                sql.SQL("DROP ROLE {}").format(role),
            ]
        try:
            self._transaction(statements)
        except ConnectorError as exc:
            raise ConnectorError(
                f"DROP ROLE failed, the role stays with NOLOGIN and no sessions: {exc.message}",
                permanent=exc.permanent,
            ) from exc

    def _transaction(self, statements: list[str | sql.Composed]) -> None:
        if not statements:
            return
        conn = self._connect()
        text = "; ".join(s if isinstance(s, str) else s.as_string(conn) for s in statements)
        call = None
        try:
            with WATCHDOG.deadline(conn, self.read_timeout) as call:
                with conn.cursor() as cursor:
                    # One round trip: every statement of the step in one transaction.
                    cursor.execute(text)
                conn.commit()
        except psycopg2.Error as exc:
            self._abort(conn)
            raise self._failure(exc, call) from exc

    def _terminate(self, names: list[str], members) -> None:
        """End the sessions of the roles and of every login role that could reach them."""
        sessions.terminate(self._query, self._connect().server_version, names, members)

    def _in_batches(self, names: list[str], step) -> dict[str, ConnectorError]:
        """Run ``step`` on all names at once; if that fails, one by one, so one bad
        role does not hold the others hostage."""
        if not names:
            return {}
        try:
            step(names)
            return {}
        except ConnectorError as batch_error:
            if len(names) == 1:
                return {names[0]: batch_error}
        errors: dict[str, ConnectorError] = {}
        for name in names:
            try:
                step([name])
            except ConnectorError as exc:
                errors[name] = exc
        return errors


def _error(exc: psycopg2.Error) -> ConnectorError:
    message = (exc.pgerror or str(exc)).strip() or type(exc).__name__
    if exc.pgcode == errorcodes.UNDEFINED_OBJECT:
        return ConnectorError(message)  # dropped under us; the retry sees it gone
    if exc.pgcode == errorcodes.INSUFFICIENT_PRIVILEGE:
        return ConnectorError(f"PostgreSQL refused: {message}{RIGHTS}", permanent=True)
    return ConnectorError(message, permanent=exc.pgcode in PERMANENT)
