"""PostgreSQL roles: ALTER ROLE ... NOLOGIN (or DROP ROLE), end their sessions, verify.

System config: ``host``, ``port``, ``user``, ``dbname``, optional
``on_revoke`` ("nologin", the default, or "drop"), ``connect_timeout`` (s),
``lock_timeout_ms`` and ``statement_timeout_ms``;
the password is the system's encrypted secret. The connecting user needs
CREATEROLE (and to be a member of, or superuser over, roles it drops) and
pg_signal_backend to end sessions.

A batch is four round trips whatever its size: which roles exist, every
ALTER/DROP in one transaction, one pg_terminate_backend over all of them, and
one catalog read that verifies them all.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg2
from psycopg2 import errorcodes, sql

from access.destinations import DestinationRefused
from access.models import Credential
from revocation.connectors.base import Account, BatchConnector, ConnectorError, close_matches

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
TERMINATE_WAIT_MS = 5000


class PostgresConnector(BatchConnector):
    config_keys = frozenset(
        {
            "host",
            "port",
            "user",
            "dbname",
            "on_revoke",
            "connect_timeout",
            "lock_timeout_ms",
            "statement_timeout_ms",
        }
    )
    destination_keys = frozenset({"host", "port", "user", "dbname"})

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
        self._conn = None

    # Connection ------------------------------------------------------------
    def _connect(self):
        if self._conn is None:
            lock_ms = int(self.config.get("lock_timeout_ms", 30000))
            statement_ms = int(self.config.get("statement_timeout_ms", 60000))
            [addresses] = self.checked_destinations()
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
                    connect_timeout=int(self.config.get("connect_timeout", 5)),
                    application_name="sundown-revocation",
                    # A role locked by someone else's open transaction must not hang
                    # the batch past its lease: give up, and let the ladder retry.
                    options=f"-c lock_timeout={lock_ms} -c statement_timeout={statement_ms}",
                )
            except psycopg2.Error as exc:
                # Down or unreachable may come back: the retry ladder decides. Refusing
                # our credentials will not change until someone fixes them.
                refused = any(text in str(exc) for text in REFUSED_LOGIN)
                raise self.connect_failed(exc, permanent=refused) from exc
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None

    def _query(self, query, params=None) -> list[tuple]:
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(query, params)
                rows = cursor.fetchall() if cursor.description else []
            conn.commit()
            return rows
        except psycopg2.Error as exc:
            self._abort(conn)
            raise _error(exc) from exc

    def _abort(self, conn) -> None:
        try:
            conn.rollback()
        except psycopg2.Error:
            self.close()

    # Interface -------------------------------------------------------------
    def list_accounts(self) -> list[Account]:
        rows = self._query(
            "SELECT rolname, rolcanlogin, rolsuper FROM pg_roles "
            "WHERE rolname !~ '^pg_' ORDER BY rolname"
        )
        return [
            Account(external_id=name, active=login, detail="superuser" if sup else "")
            for name, login, sup in rows
        ]

    def missing(self, credentials: Iterable[Credential]) -> dict[int, list[str]]:
        credentials = list(credentials)
        if not credentials:
            return {}
        # Role names are case-sensitive ("PEER_Case" is not peer_case): exact match
        # decides, the case-folded read only finds what a person may have meant.
        rows = self._query(
            "SELECT rolname FROM pg_roles WHERE lower(rolname) = ANY(%s)",
            [sorted({c.external_id.lower() for c in credentials})],
        )
        names = [row[0] for row in rows]
        return {
            c.pk: close_matches(c.external_id, names)
            for c in credentials
            if c.external_id not in names
        }

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
                    f"Refusing to revoke {name!r}: it is the role Sundown connects as",
                    permanent=True,
                )
            else:
                names.setdefault(name, []).append(credential.pk)
        if not names:
            return results
        existing = {
            row[0]
            for row in self._query(
                "SELECT rolname FROM pg_roles WHERE rolname = ANY(%s)", [list(names)]
            )
        }
        # A role that does not exist is already revoked: idempotent by design.
        try:
            self._revoke_all(sorted(existing))
            errors: dict[str, ConnectorError] = {}
        except ConnectorError as batch_error:
            if len(existing) <= 1:
                errors = {name: batch_error for name in existing}
            else:
                # One bad role must not hold the others hostage: redo them one by one.
                errors = self._revoke_each(sorted(existing))
        for name, pks in names.items():
            for pk in pks:
                results[pk] = errors.get(name)
        return results

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        credentials = list(credentials)
        names = sorted({c.external_id for c in credentials})
        if not names:
            return set()
        # One read of the catalog for the whole batch: a role is still active if
        # it can log in (nologin mode), exists at all (drop mode) or has a session.
        login_check = "TRUE" if self.mode == "drop" else "rolcanlogin"
        rows = self._query(
            f"SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND {login_check} "
            "UNION SELECT usename FROM pg_stat_activity WHERE usename = ANY(%s)",
            [names, names],
        )
        active = {row[0] for row in rows}
        return {c.pk for c in credentials if c.external_id in active}

    # Work ------------------------------------------------------------------
    def _statements(self, name: str) -> list[sql.Composed]:
        role = sql.Identifier(name)
        if self.mode == "drop":
            return [
                sql.SQL("ALTER ROLE {} NOLOGIN").format(role),
                # Hand owned objects to us and drop grants so DROP ROLE can succeed;
                # the vendor's data stays, only the vendor's access goes.
                sql.SQL("REASSIGN OWNED BY {} TO CURRENT_USER").format(role),
                sql.SQL("DROP OWNED BY {}").format(role),
                sql.SQL("DROP ROLE {}").format(role),
            ]
        return [sql.SQL("ALTER ROLE {} NOLOGIN").format(role)]

    def _revoke_all(self, names: list[str]) -> None:
        if not names:
            return
        conn = self._connect()
        try:
            with conn.cursor() as cursor:
                statements = [s for name in names for s in self._statements(name)]
                # One round trip: every statement of the batch in one transaction.
                cursor.execute(sql.SQL("; ").join(statements))
            conn.commit()
        except psycopg2.Error as exc:
            self._abort(conn)
            raise _error(exc) from exc
        # After the commit, so an ended session cannot log straight back in.
        # pg_terminate_backend only signals; without the wait (PostgreSQL 14+) the
        # session is often still listed when the verify read comes a moment later,
        # and a revoked role is retried as if it still had access.
        if conn.server_version >= 140000:
            terminate, params = "pg_terminate_backend(pid, %s)", [TERMINATE_WAIT_MS, names]
        else:
            terminate, params = "pg_terminate_backend(pid)", [names]
        self._query(
            f"SELECT {terminate} FROM pg_stat_activity "
            "WHERE usename = ANY(%s) AND pid <> pg_backend_pid()",
            params,
        )

    def _revoke_each(self, names: list[str]) -> dict[str, ConnectorError]:
        errors: dict[str, ConnectorError] = {}
        for name in names:
            try:
                self._revoke_all([name])
            except ConnectorError as exc:
                errors[name] = exc
        return errors


def _error(exc: psycopg2.Error) -> ConnectorError:
    message = (exc.pgerror or str(exc)).strip() or type(exc).__name__
    if exc.pgcode == errorcodes.UNDEFINED_OBJECT:
        return ConnectorError(message)  # dropped under us; the retry sees it gone
    return ConnectorError(message, permanent=exc.pgcode in PERMANENT)
