"""The connector interface every target kind implements.

A connector talks to one real target system. It must be idempotent ("already
gone" is success), end live sessions where the target allows it, and report the
truth from the target in ``is_active``: nothing is marked revoked on the strength
of a call that merely returned.

``missing`` tells "gone now" from "never there": the engine reads it before
revoking, and an identifier the target has never shown (and Sundown never saw
there) fails as "not found on the target" instead of counting as already gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from access.destinations import (
    DEMO_HOST_LABEL,
    Address,
    DestinationRefused,
    DestinationUnresolved,
    destination_check,
    never_resolves,
    parse_port,
)
from access.models import Credential, System
from revocation.connectors.meta import Setting
from revocation.connectors.registry import connector_class

logger = logging.getLogger(__name__)


class ConnectorError(Exception):
    """A failed call to a target. ``permanent`` means retrying cannot help.

    ``unreachable``: the target itself did not answer (refused, timed out, cut mid-call),
    so every other credential of the system would fail the same way; the engine then
    defers the batch and opens the system's outage (revocation.services.breaker) instead
    of spending an attempt per credential. ``untried``: the connector never got to this
    credential (the batch's time ran out first); it goes back to the queue uncounted.
    """

    def __init__(
        self,
        message: str,
        *,
        permanent: bool = False,
        unreachable: bool = False,
        untried: bool = False,
    ):
        super().__init__(message)
        self.message = message
        self.permanent = permanent
        self.unreachable = unreachable and not permanent
        self.untried = untried


@dataclass(frozen=True)
class Account:
    """An account found on a target by ``list_accounts`` (reconciliation).

    ``active``: it could log in now. ``sessions`` and ``sources``: who is connected
    now, where the target tells (0 where it cannot). ``last_login_at``: the last login
    the target recorded, where it keeps one. ``email`` and ``groups`` attribute an
    unregistered account to a vendor (findings.AccountPattern), and so does ``dn``
    where the account's directory entry has a DN that is not its ``external_id``
    (Active Directory: the identifier is the logon name, the OU is in the DN).
    """

    external_id: str
    active: bool
    detail: str = ""
    sessions: int = 0
    sources: tuple[str, ...] = ()
    last_login_at: datetime | None = None
    email: str = ""
    groups: tuple[str, ...] = ()
    dn: str = ""


def close_matches(wanted: str, names: Iterable[str], limit: int = 5) -> list[str]:
    """Names a person may have meant by ``wanted``: the same in another case, or the
    same user part before ``@`` (another host, another domain)."""
    folded = wanted.casefold()
    user = folded.rpartition("@")[0] or folded
    close = sorted(
        {
            name
            for name in names
            if name != wanted
            and (name.casefold() == folded or (name.casefold().rpartition("@")[0] or None) == user)
        }
    )
    return close[:limit]


def not_found_error(external_id: str, close: list[str]) -> ConnectorError:
    """The permanent error of an identifier the target has never shown Sundown."""
    hint = f"; close matches: {', '.join(repr(c) for c in close)}" if close else ""
    return ConnectorError(
        f"{external_id!r} not found on the target{hint}. Sundown has never seen this "
        "account there, so it cannot count it as revoked: check the identifier "
        "(exact spelling, case, host) and revoke by hand or correct the credential.",
        permanent=True,
    )


class Connector:
    """Base class. Subclasses implement the three single-item methods.

    The batch methods default to a loop; connectors whose target allows fewer
    round trips (one transaction, a pipeline, one search) override them.
    """

    # False for targets nobody can read back (manual): the engine then hands the
    # credential to a person instead of marking it revoked.
    verifies: bool = True
    # The non-secret settings this kind reads from ``system.config``. Saving a system
    # refuses any other key: a password under a name nobody thought of would
    # otherwise be stored in clear and shown to every reader.
    config_keys: frozenset[str] = frozenset()
    # The settings that decide where the secret is sent and how: changing one of
    # them (or the kind) clears the stored secret unless a new one comes with it.
    destination_keys: frozenset[str] = frozenset()
    # What each of ``config_keys`` means, for the system form's field-level help (a
    # test holds every kind to one entry per key), and what the one secret is.
    config_help: dict[str, Setting] = {}
    # What revoking on this kind cannot do, said on the system's page (and in the
    # module docstring, at more length).
    limits: str = ""
    secret_help: str = "None: this kind uses no secret."

    def __init__(self, system: System):
        self.system = system
        # The registry maps kinds to classes; one class may serve several kinds.
        self.kind = system.kind
        self.config = system.config or {}
        # What a revocation did beyond the account itself, per credential id (members
        # whose path to the role was cut, say): the engine puts it in the
        # credential.revoked event.
        self.notes: dict[int, str] = {}
        # time.monotonic() by which the batch must be done (set by the engine from the
        # lease): one-by-one loops stop there and leave the rest untried.
        self.deadline: float | None = None

    def choice(self, name: str, choices: tuple[str, ...]) -> str:
        """``config[name]`` (default: the first choice); anything else is a permanent error."""
        value = self.config.get(name, choices[0])
        if value not in choices:
            allowed = " or ".join(repr(c) for c in choices)
            raise ConnectorError(
                f"{self.kind} systems: {name} must be {allowed}, not {value!r}", permanent=True
            )
        return value

    @classmethod
    def config_problems(cls, config: dict) -> list[str]:
        """What only this kind can tell is wrong with ``config`` when a system is saved
        (a CA that is not PEM), as field messages; the connector refuses the same at
        run time, permanently."""
        return []

    # Destinations ----------------------------------------------------------
    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        """(host, port) pairs this config connects to; raises DestinationRefused if malformed."""
        return []

    @classmethod
    def local_paths(cls, config: dict) -> list:
        """Files on the worker's own file system this config reads or rewrites; each must
        be below ``SUNDOWN_LOCAL_TARGET_ROOTS`` (checked at save, and when opened)."""
        return []

    @staticmethod
    def host_port(config: dict, default_port: int) -> tuple[str, int]:
        """``host`` (loopback when omitted, so the allowlist decides) and ``port``."""
        return config.get("host") or "127.0.0.1", parse_port(config.get("port"), default_port)

    def checked_destinations(self) -> list[list[Address]]:
        """Check every destination against the allowlist now, just before connecting.

        The save-time check may be stale (a name can resolve elsewhere since), so each
        connector calls this when it opens its connection. Returns the checked
        addresses per destination, for connectors that connect to the address itself.
        """
        try:
            destinations = self.destinations(self.config)
            for host, _ in destinations:
                if never_resolves(host):
                    # No lookup, no retry ladder: the name cannot exist until a person
                    # points the system somewhere real.
                    raise ConnectorError(
                        f"{DEMO_HOST_LABEL}: {host} is under .invalid, a name that never "
                        "resolves (RFC 6761); point the system at a real host",
                        permanent=True,
                    )
            return [destination_check(host, port, resolve=True) for host, port in destinations]
        except DestinationRefused as exc:
            raise ConnectorError(str(exc), permanent=True) from exc
        except DestinationUnresolved as exc:
            raise self.connect_failed(exc) from exc

    def connect_failed(self, exc: BaseException, *, permanent: bool = False) -> ConnectorError:
        """The one error a failed connection shows: whether something answered at an
        address (refused, timed out, wrong protocol, bad password) stays in the server
        log, or a system's config would be a port scanner for whoever may edit it."""
        logger.warning("%s system %s: could not connect: %s", self.kind, self.system.pk, exc)
        return ConnectorError(
            f"could not connect to the {self.kind} system",
            permanent=permanent,
            unreachable=not permanent,
        )

    # Lifecycle -------------------------------------------------------------
    def probe(self) -> None:
        """The cheapest call that shows the target answers us (connect, log in, one
        trivial read); raises ConnectorError like every call. The engine probes a
        system whose target was unreachable every few seconds and resumes its batches
        as soon as this passes. Override it where listing every account is not cheap."""
        self.list_accounts()

    def close(self) -> None:
        """Release connections; called once per batch."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # Single credential -----------------------------------------------------
    def revoke(self, credential: Credential) -> None:
        raise NotImplementedError

    def is_active(self, credential: Credential) -> bool:
        raise NotImplementedError

    def list_accounts(self) -> list[Account]:
        raise NotImplementedError

    def account_key(self, external_id: str) -> str:
        """How the target compares identifiers: reconciliation matches listed accounts
        with credentials by this key (exact by default; LDAP DNs ignore case)."""
        return external_id

    def missing(self, credentials: Iterable[Credential]) -> dict[int, list[str]]:
        """The credentials whose account the target does not show at all, each with
        close matches (same name in another case, the same user on another host).

        An account that exists but is disabled or locked is *not* missing. The name
        must match exactly as the target spells it. This default reads
        ``list_accounts`` once; override it when the target can answer for just
        these accounts, or compares names its own way (LDAP DNs ignore case).
        Errors are ConnectorErrors, like every other call.
        """
        credentials = list(credentials)
        if not credentials:
            return {}
        names = [account.external_id for account in self.list_accounts()]
        listed = set(names)
        return {
            c.pk: close_matches(c.external_id, names)
            for c in credentials
            if c.external_id not in listed
        }

    # Batches ---------------------------------------------------------------
    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        """Revoke each; map credential id to None (done) or the error it hit."""
        results: dict[int, ConnectorError | None] = {}
        credentials = list(credentials)
        for i, credential in enumerate(credentials):
            if self.deadline is not None and time.monotonic() >= self.deadline:
                # The lease would run out before the rest: they go back to the queue
                # untried (and the batch sizing learns this system's pace).
                stop = ConnectorError("not tried: the batch ran out of time", untried=True)
                return results | {c.pk: stop for c in credentials[i:]}
            try:
                self.revoke(credential)
                results[credential.pk] = None
            except ConnectorError as exc:
                if exc.unreachable:
                    # The target is gone: every other call would wait out the same
                    # timeout. The batch is deferred as a whole.
                    return results | {c.pk: exc for c in credentials[i:]}
                results[credential.pk] = exc
        return results

    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        """Ids of the credentials the target still accepts (the verify read)."""
        return {c.pk for c in credentials if self.is_active(c)}


class BatchConnector(Connector):
    """For targets whose natural unit is the batch: one credential is a batch of one.

    Subclasses implement ``revoke_many`` and ``still_active``; the single-item
    methods go through them, so both paths share one implementation.
    """

    def revoke(self, credential: Credential) -> None:
        error = self.revoke_many([credential])[credential.pk]
        if error is not None:
            raise error

    def is_active(self, credential: Credential) -> bool:
        return credential.pk in self.still_active([credential])


def connector_for(system: System) -> Connector:
    """The connector for ``system``'s kind (see ``registry.CONNECTORS``), not yet connected."""
    try:
        cls = connector_class(system.kind)
    except KeyError:
        # A kind that left the registry (or never was in it): a person must change
        # the system's kind, so no retry can help.
        raise ConnectorError(
            f"Sundown has no connector for systems of kind {system.kind!r}", permanent=True
        ) from None
    return cls(system)
