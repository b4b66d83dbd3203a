"""Redis ACL users (Redis 6+).

``system.config``: ``host``, ``port`` (6379), ``user`` (the connector's own ACL
user, "default" when omitted), ``db`` (0), ``ssl`` (false), ``timeout`` (seconds,
5), ``on_revoke``: ``"disable"`` (default) or ``"delete"``, ``acl_save`` (true
when the server keeps its users in an ACL file, so the change survives a
restart). The connector's password is the system secret.

Every call has ``timeout`` for connecting and for each reply (a command never waits
on a lock in Redis: a late reply is a stalled server or network, a transient error).

``disable`` runs ``ACL SETUSER name off resetpass``: the user stays listed (with
its key and command rules, for the record) but has no password and is off, so
no AUTH can succeed even if someone turns it back on. ``delete`` runs ``ACL
DELUSER``. Either way ``CLIENT KILL USER name`` then ends the connections that
are already authenticated as the user; Redis would otherwise keep serving them.
"""

from __future__ import annotations

from collections.abc import Iterable

import redis
from redis import exceptions as rex
from redis.backoff import NoBackoff
from redis.retry import Retry

from access.models import Credential
from revocation.connectors import kept
from revocation.connectors.meta.redis import META

from .base import Account, BatchConnector, ConnectorError

DISABLE = "disable"
DELETE = "delete"


class RedisConnector(BatchConnector):
    """Revokes Redis ACL users in two pipelined round trips per batch."""

    config_keys = META.config_keys
    destination_keys = frozenset({"host", "port", "user", "db", "ssl"})
    config_help = META.config_help
    secret_help = META.secret_help

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        return [cls.host_port(config, 6379)]

    def __init__(self, system):
        super().__init__(system)
        self.on_revoke = self.choice("on_revoke", (DISABLE, DELETE))
        self.admin_user = self.config.get("user") or "default"
        self._client: redis.Redis | None = None
        self._kept_key: tuple = ()
        # A call that failed leaves the client closed at the end, never handed on.
        self._failed = False

    # Connection ------------------------------------------------------------
    @property
    def client(self) -> redis.Redis:
        if self._client is None:
            timeout = float(self.config.get("timeout", 5))
            [addresses] = self.checked_destinations()
            self._kept_key = kept.key_for(self, addresses[0])
            client = kept.take(self._kept_key)
            if client is not None:
                self._client = client
                return client
            ssl = bool(self.config.get("ssl", False))
            self._client = redis.Redis(
                # The address just checked (a second lookup could answer differently);
                # the name only where TLS must verify it.
                host=self.config.get("host", "127.0.0.1") if ssl else str(addresses[0]),
                port=int(self.config.get("port", 6379)),
                db=int(self.config.get("db", 0)),
                username=self.config.get("user") or None,
                password=self.system.get_secret() or None,
                ssl=ssl,
                # Connect and every read: Redis runs one command at a time and takes
                # no locks, so a reply slower than this is a stalled server or network.
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                socket_keepalive=True,
                # redis-py retries with backoff by default (seconds per failed AUTH):
                # the engine's retry ladder decides about retries, not the client.
                retry=Retry(NoBackoff(), 0),
                decode_responses=True,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            # Its pool reconnects a connection that broke (revocation.connectors.kept:
            # the task's next batch may use it); outside a batch task, closed.
            if self._failed or not kept.keep(self._kept_key, client):
                client.close()

    def _error(self, exc: rex.RedisError) -> ConnectorError:
        """Translate a redis-py error: transient only when the target is unreachable."""
        self._failed = True
        # Auth failures subclass ConnectionError, so they come first.
        if isinstance(exc, rex.AuthenticationError | rex.AuthorizationError):
            return self.connect_failed(exc, permanent=True)
        if isinstance(exc, rex.ConnectionError | rex.TimeoutError):
            return self.connect_failed(exc)
        if isinstance(exc, rex.NoPermissionError):
            return ConnectorError(
                f"Redis user {self.admin_user!r} may not manage ACL users: {exc}", permanent=True
            )
        # Unknown command (Redis < 6, ACL renamed away), bad syntax, ...
        return ConnectorError(f"Redis rejected the command: {exc}", permanent=True)

    def _call(self, fn):
        try:
            return fn()
        except rex.RedisError as exc:
            raise self._error(exc) from exc

    def probe(self) -> None:
        self._call(self.client.ping)

    def _own_user_error(self) -> ConnectorError:
        # Revoking the connector's own user would lock Sundown (and whoever
        # shares "default") out of the target; a human has to do that.
        return ConnectorError(
            f"Refusing to revoke {self.admin_user!r}: it is the user Sundown connects as",
            permanent=True,
        )

    def _read(self, names: list[str], *, flags: bool) -> tuple[set[str], set[str], set[str]]:
        """(users that exist, users that are on, users with open connections) in one round trip.

        ACL USERS answers existence for the whole batch cheaply. ACL GETUSER costs
        the server about a third of a millisecond per user (it describes every
        command rule), so it runs only when the on/off flag is wanted.
        """
        wanted = list(dict.fromkeys(names)) if flags else []

        def run():
            pipe = self.client.pipeline(transaction=False)
            pipe.acl_users()
            pipe.client_list()
            for name in wanted:
                pipe.acl_getuser(name)
            return pipe.execute()

        users, clients, *infos = self._call(run)
        enabled = {
            name for name, info in zip(wanted, infos, strict=True) if info and "on" in info["flags"]
        }
        return set(users), enabled, {client.get("user") for client in clients}

    # Connector interface ---------------------------------------------------
    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        results: dict[int, ConnectorError | None] = {}
        names = []
        for credential in credentials:
            if credential.external_id == self.admin_user:
                results[credential.pk] = self._own_user_error()
            else:
                results[credential.pk] = None
                names.append(credential.external_id)
        if not names:
            return results
        # ACL SETUSER creates a user that does not exist, so look first: an
        # absent user is already gone, and must stay absent. (Should it be
        # deleted between the two round trips, SETUSER recreates it off and
        # without a password: still unusable.) ACL USERS only: the CLIENT LIST
        # in _read, costly on a busy server, is for the verify.
        present = sorted(set(self._call(self.client.acl_users)).intersection(names))
        if present:

            def run():
                pipe = self.client.pipeline(transaction=False)
                for name in present:
                    if self.on_revoke == DELETE:
                        pipe.acl_deluser(name)
                    else:
                        pipe.acl_setuser(name, enabled=False, reset_passwords=True)
                for name in present:
                    pipe.client_kill_filter(user=name)
                if self.config.get("acl_save"):
                    pipe.execute_command("ACL SAVE")
                # raise_on_error=False: read every reply before judging them.
                return pipe.execute(raise_on_error=False)

            for reply in self._call(run):
                # CLIENT KILL USER answers "No such user" after DELUSER (which
                # already dropped that user's connections): that is success.
                if isinstance(reply, rex.RedisError) and "no such user" not in str(reply).lower():
                    raise self._error(reply)
        return results

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        credentials = list(credentials)
        names = [c.external_id for c in credentials]
        # After DELUSER, existing at all is too much; after "off", being on is.
        existing, enabled, connected = self._read(names, flags=self.on_revoke == DISABLE)
        usable = existing if self.on_revoke == DELETE else enabled
        # A user that is off but still has an authenticated connection has access.
        return {c.pk for c in credentials if c.external_id in usable | connected}

    def list_accounts(self) -> list[Account]:
        rules = self._call(self.client.acl_list)
        sessions: dict[str, list[str]] = {}
        for client in self._call(self.client.client_list):
            user = client.get("user")
            if user:
                sessions.setdefault(user, []).append(client.get("addr", "").rpartition(":")[0])
        accounts = []
        for rule in rules:
            # "user <name> on|off [nopass] [#<hash>...] ~keys &channels +@cmds"
            tokens = rule.split()
            if len(tokens) < 3 or tokens[0] != "user":
                continue
            accounts.append(
                Account(
                    external_id=tokens[1],
                    active="on" in tokens[2:],
                    detail=" ".join(t for t in tokens[2:] if not t.startswith("#")),
                    sessions=len(sessions.get(tokens[1], ())),
                    sources=tuple(sorted({a for a in sessions.get(tokens[1], ()) if a})),
                )
            )
        return accounts
