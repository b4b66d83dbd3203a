"""What the LDAP and Active Directory connectors share: the bound connection, TLS, errors, DNs.

Connection settings (``system.config``), for both kinds:

- ``url`` (``ldap://host:389``, ``ldaps://host:636``) or ``host``, ``port`` and
  ``use_ssl``; ``start_tls`` (false) upgrades an ``ldap://`` connection before the bind.
- ``bind_dn``: the connector's own identity (a DN; Active Directory also takes
  ``user@domain``); the system secret is its password. ``base_dn``: every account
  Sundown touches must lie under it. ``timeout``: seconds to connect, for each reply,
  and the server-side time limit of each search (5); a server that stops answering
  fails the call there, as a transient (unreachable) error.
- TLS (``ldaps://``, ``use_ssl`` or ``start_tls``) always checks the server's
  certificate and that it names the host in the url (its DNS name or IP address):
  against ``tls_ca`` (the CA certificates as PEM text) and/or ``tls_ca_file`` (a PEM
  file on the workers), or else the workers' system trust store. Only an explicit
  ``tls_verify: false`` skips both checks; the API (``System.tls_verify``) and the
  dashboard's system pages show it wherever the system is shown. A certificate that fails the
  check is a permanent error naming the reason, so a person can set ``tls_ca``.

Without TLS, and with ``tls_verify: false``, the connector connects to the address the
allowlist just checked (a second lookup could answer elsewhere); with a verified
certificate it connects by name, because the name is what the certificate proves.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from collections.abc import Iterable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import ldap3
from ldap3.core import exceptions as lex
from ldap3.utils.dn import parse_dn

from access.destinations import parse_port, url_destination
from access.models import Credential
from access.system_config import MULTILINE_MAX

from .base import BatchConnector, ConnectorError
from .meta.directory import CONNECTION_HELP

logger = logging.getLogger(__name__)

# Result codes that mean "try again later"; every other refusal is permanent.
BUSY, UNAVAILABLE, TIME_LIMIT = 51, 52, 3
TRANSIENT_RESULTS = {BUSY, UNAVAILABLE, TIME_LIMIT}
# noSuchAttribute also answers a MODIFY_DELETE of a value that is not there.
NO_SUCH_OBJECT, NO_SUCH_ATTRIBUTE = 32, 16
STRONGER_AUTH_REQUIRED = 8
# Servers answer a limited number of entries per search; stay well under it.
CHUNK = 200
# Entries per page of a paged search (AD answers at most 1,000 per page by default).
PAGE_SIZE = 500

CONNECTION_KEYS = frozenset(
    {
        "url",
        "host",
        "port",
        "use_ssl",
        "start_tls",
        "bind_dn",
        "base_dn",
        "timeout",
        "tls_ca",
        "tls_ca_file",
        "tls_verify",
    }
)
# Where the secret goes and how it is protected: changing one clears the stored secret.
DESTINATION_KEYS = CONNECTION_KEYS - {"base_dn", "timeout"}


# DNs ------------------------------------------------------------------------
def rdns(dn: str) -> list[str]:
    """A DN's RDNs in a form two spellings of the same DN share (case, spaces, AVA order).

    A multi-valued RDN (``uid=x+ou=people``) stays one RDN: read as two, it would
    put an entry beside ``ou=people`` under it, past the base_dn check.
    """
    try:
        parts = parse_dn(dn)
    except lex.LDAPInvalidDnError as exc:
        raise ConnectorError(f"Not a valid DN: {dn!r}", permanent=True) from exc
    found: list[str] = []
    avas: list[str] = []
    for attr, value, separator in parts:
        avas.append(f"{attr.lower()}={value.lower()}")
        if separator != "+":
            found.append("+".join(sorted(avas)))
            avas = []
    return found


def norm_dn(dn: str) -> str:
    """A DN in a form two spellings of the same DN share (case, spaces)."""
    return ",".join(rdns(dn))


def is_under(dn: str, base_dn: str) -> bool:
    """Whether ``dn`` is ``base_dn`` or below it (False for anything that is not a DN)."""
    try:
        entry, base = rdns(dn), rdns(base_dn)
    except ConnectorError:
        return False
    return len(entry) >= len(base) and entry[len(entry) - len(base) :] == base


def unescape(value: str) -> str:
    """parse_dn keeps DN escapes (``\\,``); filters need the plain value."""
    out, i = [], 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            pair = value[i + 1 : i + 3]
            if len(pair) == 2 and all(c in "0123456789abcdefABCDEF" for c in pair):
                out.append(chr(int(pair, 16)))
                i += 3
                continue
            out.append(value[i + 1])
            i += 2
            continue
        out.append(value[i])
        i += 1
    return "".join(out)


# Attribute values as ldap3 returns them without schema ---------------------------
def values(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def first(value) -> str:
    found = values(value)
    return str(found[0]) if found else ""


def ldap_time(value) -> datetime | None:
    """A GeneralizedTime (``20261202061000Z``, fractions allowed) as UTC, or None."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = (value or "").strip()
    if not text:
        return None
    try:
        return datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None


# TLS -------------------------------------------------------------------------
class VerifiedTls(ldap3.Tls):
    """ldap3's TLS with Python's own certificate and host-name check during the handshake.

    ldap3 turns ``check_hostname`` off and matches names itself after the handshake,
    with ``ssl.match_hostname`` (gone in Python 3.12); and it reports every handshake
    failure as a socket error, which would read as "target down" and be retried
    forever. This keeps the verification failure so the connector can say what it is.
    """

    def __init__(self, context: ssl.SSLContext | None):
        super().__init__(validate=ssl.CERT_REQUIRED if context else ssl.CERT_NONE)
        self.context = context
        self.refused: ssl.SSLCertVerificationError | None = None

    def wrap_socket(self, connection, do_handshake=False):
        if self.context is None:  # tls_verify: false, said so in the config
            context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = self.context
        try:
            connection.socket = context.wrap_socket(
                connection.socket,
                server_side=False,
                do_handshake_on_connect=do_handshake,
                server_hostname=connection.server.host,
            )
        except ssl.SSLCertVerificationError as exc:
            self.refused = exc
            raise


def tls_context(config: dict) -> ssl.SSLContext | None:
    """The verifying context for ``config``, or None for an explicit ``tls_verify: false``.

    A CA that cannot be loaded is a permanent error: a person must fix the setting.
    """
    verify = config.get("tls_verify", True)
    if verify not in (True, False):
        raise ConnectorError("tls_verify must be true or false", permanent=True)
    if verify is False:
        return None
    ca_data = config.get("tls_ca") or None
    ca_file = config.get("tls_ca_file") or None
    if ca_data is not None and (not isinstance(ca_data, str) or len(ca_data) > MULTILINE_MAX):
        raise ConnectorError("tls_ca must be PEM text of CA certificates", permanent=True)
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    try:
        if ca_data or ca_file:
            # A configured CA replaces the system store for this system: trusting
            # every public CA as well would let any of them vouch for the directory.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.load_verify_locations(cafile=ca_file, cadata=ca_data)
    except (ssl.SSLError, ValueError) as exc:
        raise ConnectorError("tls_ca is not PEM text of CA certificates", permanent=True) from exc
    except OSError as exc:
        raise ConnectorError(
            "tls_ca_file could not be read as PEM CA certificates on the worker",
            permanent=True,
        ) from exc
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


# The connector ----------------------------------------------------------------
class DirectoryConnector(BatchConnector):
    """A bound ldap3 connection with verified TLS, and the error rules both kinds share."""

    config_keys = CONNECTION_KEYS
    destination_keys = DESTINATION_KEYS
    config_help = CONNECTION_HELP
    secret_help = "The password of bind_dn."

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        if config.get("url"):
            # ldapi:// (a Unix socket) and anything else than LDAP over TCP is refused.
            return [url_destination(config["url"], {"ldap": 389, "ldaps": 636})]
        return [cls.host_port(config, 636 if config.get("use_ssl") else 389)]

    @classmethod
    def config_problems(cls, config: dict) -> list[str]:
        # tls_ca_file is a path on the workers, not on the web server: only they can
        # read it, when they connect.
        if config.get("tls_verify", True) not in (True, False):
            return ["tls_verify: must be true or false."]
        try:
            tls_context({k: v for k, v in config.items() if k != "tls_ca_file"})
        except ConnectorError:
            return ["tls_ca: must be PEM text of CA certificates (-----BEGIN CERTIFICATE-----)."]
        return []

    @classmethod
    def tls_unverified(cls, config: dict) -> bool:
        """Whether this config explicitly skips certificate and host-name checks."""
        return config.get("tls_verify", True) is False

    def __init__(self, system):
        super().__init__(system)
        self.base_dn = self.config.get("base_dn", "")
        if not self.base_dn:
            raise ConnectorError(f"{self.kind} systems need a base_dn", permanent=True)
        url = self.config.get("url")
        self.use_ssl = (
            urlsplit(url).scheme.lower() == "ldaps" if url else bool(self.config.get("use_ssl"))
        )
        self.start_tls = bool(self.config.get("start_tls"))
        self.tls = VerifiedTls(tls_context(self.config)) if self.use_ssl or self.start_tls else None
        self._conn: ldap3.Connection | None = None
        try:
            # ldap3 packs the receive timeout into a C struct: it must be an int.
            self.timeout = max(1, int(self.config.get("timeout", 5)))
        except (TypeError, ValueError) as exc:
            raise ConnectorError(
                f"{self.kind} systems: timeout must be a whole number of seconds", permanent=True
            ) from exc

    # Connection ------------------------------------------------------------
    def _server(self) -> ldap3.Server:
        [addresses] = self.checked_destinations()
        timeout = self.timeout
        url = self.config.get("url")
        if url:
            host, port = url_destination(url, {"ldap": 389, "ldaps": 636})
        else:
            host = self.config.get("host") or "127.0.0.1"
            port = parse_port(self.config.get("port"), 636 if self.use_ssl else 389)
        verified = self.tls is not None and self.tls.context is not None
        return ldap3.Server(
            host if verified else str(addresses[0]),
            port=port,
            use_ssl=self.use_ssl,
            tls=self.tls,
            connect_timeout=timeout,
            get_info=ldap3.NONE,
        )

    def _connection(self) -> ldap3.Connection:
        if self._conn is None:
            server = self._server()
            conn = ldap3.Connection(
                server,
                user=self.config.get("bind_dn") or None,
                password=self.system.get_secret() or None,
                receive_timeout=self.timeout,
                raise_exceptions=True,
                auto_referrals=False,
            )
            try:
                self._call(conn.open)
                if self.start_tls:
                    self._call(conn.start_tls)
                self._call(conn.bind)
            except ConnectorError as exc:
                raise self._connect_error(exc) from exc
            self._conn = conn
        return self._conn

    def _connect_error(self, exc: ConnectorError) -> ConnectorError:
        """What a failed open, StartTLS or bind says: the certificate's fault by name,
        a refused bind (permanent) or an unreachable server (transient)."""
        if self.tls is not None and self.tls.refused is not None:
            reason = self.tls.refused.verify_message or str(self.tls.refused)
            logger.warning("%s system %s: %s", self.kind, self.system.pk, self.tls.refused)
            return ConnectorError(
                f"could not connect to the {self.kind} system: its TLS certificate was not "
                f"accepted ({reason}). Set tls_ca (PEM) or tls_ca_file to the CA that issued "
                "it, and use the host name the certificate names.",
                permanent=True,
            )
        cause = exc.__cause__
        if isinstance(cause, lex.LDAPOperationResult) and cause.result == STRONGER_AUTH_REQUIRED:
            return ConnectorError(
                f"The {self.kind} server refused a simple bind without TLS "
                "(strongerAuthRequired): use an ldaps:// url or start_tls: true.",
                permanent=True,
            )
        return self.connect_failed(cause or exc, permanent=exc.permanent)

    def probe(self) -> None:
        self._connection()  # open and bind: the directory answers and accepts us

    def close(self) -> None:
        if self._conn is not None:
            # A server that is gone already leaves nothing to release.
            with contextlib.suppress(lex.LDAPException):
                self._conn.unbind()
            self._conn = None

    def _error(self, exc: lex.LDAPException) -> ConnectorError:
        """Translate an ldap3 error: transient only when the server is away or busy."""
        if isinstance(exc, lex.LDAPOperationResult):
            if exc.result in TRANSIENT_RESULTS:
                return ConnectorError(f"{self.kind} server busy: {exc}")
            # invalidCredentials, insufficientAccessRights, undefinedAttributeType, ...
            return ConnectorError(f"{self.kind} server refused: {exc}", permanent=True)
        if isinstance(exc, lex.LDAPCommunicationError | lex.LDAPResponseTimeoutError):
            self._conn = None  # never reuse a broken connection
            return self.connect_failed(exc)
        # LDAPBindError, LDAPStartTLSError, invalid filters or DNs, ...
        return ConnectorError(f"{self.kind} request failed: {exc}", permanent=True)

    def _call(self, fn, *args, ok: tuple[int, ...] = (), **kwargs):
        """Run one ldap3 call; result codes in ``ok`` count as success (idempotency)."""
        try:
            return fn(*args, **kwargs)
        except lex.LDAPOperationResult as exc:
            if exc.result in ok:
                return None
            raise self._error(exc) from exc
        except lex.LDAPException as exc:
            raise self._error(exc) from exc

    def _dns(
        self, credentials: list[Credential]
    ) -> tuple[dict[int, str], dict[int, ConnectorError]]:
        """The DN of each credential, and a refusal for each DN outside base_dn."""
        found, refused = {}, {}
        for credential in credentials:
            dn = credential.external_id
            try:
                rdns(dn)
            except ConnectorError as exc:
                refused[credential.pk] = exc
                continue
            # Verification searches under base_dn: an entry outside it would
            # never be found and so look revoked. Refuse instead.
            if is_under(dn, self.base_dn):
                found[credential.pk] = dn
            else:
                refused[credential.pk] = ConnectorError(
                    f"{dn!r} is not under the system's base_dn {self.base_dn!r}", permanent=True
                )
        return found, refused

    def _paged(
        self, conn: ldap3.Connection, search_filter: str, attributes: Iterable[str]
    ) -> list[tuple[str, dict]]:
        """(dn, attributes) of every entry under base_dn matching, page by page."""
        pages = self._call(
            conn.extend.standard.paged_search,
            self.base_dn,
            search_filter,
            attributes=list(attributes) or ldap3.NO_ATTRIBUTES,
            paged_size=PAGE_SIZE,
            generator=True,
            time_limit=self.timeout,
        )
        try:
            return [
                (item["dn"], item.get("attributes", {}))
                for item in pages
                if item.get("type") == "searchResEntry"
            ]
        except lex.LDAPException as exc:
            # The generator sends the requests for the later pages.
            raise self._error(exc) from exc
