"""LDAP directory entries (written against OpenLDAP slapd; plain LDAPv3).

``system.config``: ``url`` (``ldap://host:389`` or ``ldaps://...``) or ``host`` and
``port``, ``start_tls`` (false), ``bind_dn`` (the connector's own identity; the
system secret is its password), ``base_dn`` (every credential's DN must lie
under it), ``timeout`` (seconds, 5) and ``on_revoke``:

- ``"disable"`` (default): the entry stays, but cannot bind. How depends on
  ``disable_method``:
  - ``"password"`` (default) deletes every ``userPassword`` value. A simple bind
    needs a stored password, so no password works afterwards, on any LDAPv3
    server, without an overlay; the verify read is a presence filter.
  - ``"ppolicy"`` sets ``pwdAccountLockedTime: 000001010000Z`` (locked until an
    administrator unlocks it) and keeps the password hash. Debian's slapd ships
    the ppolicy overlay, but the lock is only enforced when that overlay is
    loaded with a policy that has ``pwdLockout: TRUE``; choose it only there.
- ``"delete"``: the entry is deleted.
- ``"remove_groups"``: the DN is removed from every group under ``group_base_dn``
  (default ``base_dn``) matching ``group_filter`` (``(objectClass=groupOfNames)``)
  through ``member_attribute`` (``member``). A group that would be left empty
  (``groupOfNames`` must have a member) gets ``placeholder_member`` instead.

LDAP has no sessions to end: a bind is checked when it happens, so existing
connections bound as the entry keep their identity until they rebind. Each
change is one request on one bound connection (LDAP has no batch write); the
verify read is one search per batch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime

import ldap3
from ldap3.core import exceptions as lex
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from access.destinations import url_destination
from access.models import Credential

from .base import Account, BatchConnector, ConnectorError, Setting, close_matches

DISABLE, DELETE, REMOVE_GROUPS = "disable", "delete", "remove_groups"
PASSWORD, PPOLICY = "password", "ppolicy"
# ldap3's modify() changes: attribute -> [(operation, values)].
Changes = dict[str, list[tuple[str, list[str]]]]
LOCKED_FOREVER = "000001010000Z"  # ppolicy: locked until an administrator clears it

# Result codes that mean "try again later"; every other refusal is permanent.
_BUSY, _UNAVAILABLE, _TIME_LIMIT = 51, 52, 3
_TRANSIENT_RESULTS = {_BUSY, _UNAVAILABLE, _TIME_LIMIT}
# noSuchAttribute also answers a MODIFY_DELETE of a value that is not there.
_NO_SUCH_OBJECT, _NO_SUCH_ATTRIBUTE = 32, 16
_OBJECT_CLASS_VIOLATION = 65
# slapd answers at most 500 entries by default; stay well under it per search.
_CHUNK = 200


def _rdns(dn: str) -> list[str]:
    """A DN's RDNs in a form two spellings of the same DN share (case, spaces, AVA order).

    A multi-valued RDN (``uid=x+ou=people``) stays one RDN: read as two, it would
    put an entry beside ``ou=people`` under it, past the base_dn check.
    """
    try:
        parts = parse_dn(dn)
    except lex.LDAPInvalidDnError as exc:
        raise ConnectorError(f"Not a valid DN: {dn!r}", permanent=True) from exc
    rdns: list[str] = []
    avas: list[str] = []
    for attr, value, separator in parts:
        avas.append(f"{attr.lower()}={value.lower()}")
        if separator != "+":
            rdns.append("+".join(sorted(avas)))
            avas = []
    return rdns


_ACCOUNT_ATTRIBUTES = (
    "pwdAccountLockedTime",
    "mail",
    "memberOf",
    "authTimestamp",
    "pwdLastSuccess",
)


def _values(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]


def _first(value) -> str:
    values = _values(value)
    return str(values[0]) if values else ""


def _ldap_time(value: str) -> datetime | None:
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


def _norm(dn: str) -> str:
    """A DN in a form two spellings of the same DN share (case, spaces)."""
    return ",".join(_rdns(dn))


class LDAPConnector(BatchConnector):
    """Disables, deletes or ungroups directory entries over one bound connection."""

    config_keys = frozenset(
        {
            "url",
            "host",
            "port",
            "use_ssl",
            "start_tls",
            "bind_dn",
            "base_dn",
            "timeout",
            "on_revoke",
            "disable_method",
            "group_base_dn",
            "group_filter",
            "member_attribute",
            "placeholder_member",
            "user_filter",
        }
    )
    destination_keys = frozenset({"url", "host", "port", "use_ssl", "start_tls", "bind_dn"})
    config_help = {
        "url": Setting("ldap://host:389 or ldaps://host:636; or give host and port instead."),
        "host": Setting("Server host name or address, when no url is given."),
        "port": Setting("Server port, when no url is given; 389 (636 with TLS) when empty.", int),
        "use_ssl": Setting("With host and port: connect over TLS (ldaps; no when empty).", bool),
        "start_tls": Setting("Upgrade the connection with StartTLS (no when empty).", bool),
        "bind_dn": Setting("DN Sundown binds as, e.g. cn=sundown,dc=agency,dc=example."),
        "base_dn": Setting(
            "Required. Every credential's DN must lie under it, e.g. "
            "ou=people,dc=agency,dc=example."
        ),
        "timeout": Setting("Seconds to wait for the server; 5 when empty.", int),
        "on_revoke": Setting(
            "disable keeps the entry but stops its binds; delete removes the entry; "
            "remove_groups takes the DN out of every matching group.",
            choices=("disable", "delete", "remove_groups"),
        ),
        "disable_method": Setting(
            "How disable works: password deletes every userPassword (works on any server); "
            "ppolicy sets pwdAccountLockedTime (only where the ppolicy overlay enforces it).",
            choices=("password", "ppolicy"),
        ),
        "group_base_dn": Setting("Where remove_groups looks for groups; base_dn when empty."),
        "group_filter": Setting("Which entries are groups; (objectClass=groupOfNames) when empty."),
        "member_attribute": Setting("Attribute that lists a group's members; member when empty."),
        "placeholder_member": Setting(
            "Member put into a group that would be left empty; cn=nobody when empty."
        ),
        "user_filter": Setting(
            "Which entries are accounts when listing them (reconciliation); "
            "(objectClass=inetOrgPerson) when empty."
        ),
    }
    secret_help = "The password of bind_dn."

    @classmethod
    def destinations(cls, config: dict) -> list[tuple[str, int]]:
        if config.get("url"):
            # ldapi:// (a Unix socket) and anything else than LDAP over TCP is refused.
            return [url_destination(config["url"], {"ldap": 389, "ldaps": 636})]
        return [cls.host_port(config, 636 if config.get("use_ssl") else 389)]

    def __init__(self, system):
        super().__init__(system)
        cfg = self.config
        self.on_revoke = self.choice("on_revoke", (DISABLE, DELETE, REMOVE_GROUPS))
        self.disable_method = self.choice("disable_method", (PASSWORD, PPOLICY))
        self.base_dn = cfg.get("base_dn", "")
        if not self.base_dn:
            raise ConnectorError("LDAP systems need a base_dn", permanent=True)
        self.group_base_dn = cfg.get("group_base_dn") or self.base_dn
        self.group_filter = cfg.get("group_filter", "(objectClass=groupOfNames)")
        self.member_attribute = cfg.get("member_attribute", "member")
        self.placeholder_member = cfg.get("placeholder_member", "cn=nobody")
        self.user_filter = cfg.get("user_filter", "(objectClass=inetOrgPerson)")
        self._conn: ldap3.Connection | None = None

    # Connection ------------------------------------------------------------
    def _connection(self) -> ldap3.Connection:
        if self._conn is None:
            self.checked_destinations()
            # ldap3 packs the receive timeout into a C struct: it must be an int.
            timeout = max(1, int(self.config.get("timeout", 5)))
            url = self.config.get("url")
            if url:
                server = ldap3.Server(url, connect_timeout=timeout, get_info=ldap3.NONE)
            else:
                server = ldap3.Server(
                    self.config.get("host", "127.0.0.1"),
                    port=int(self.config.get("port", 389)),
                    use_ssl=bool(self.config.get("use_ssl", False)),
                    connect_timeout=timeout,
                    get_info=ldap3.NONE,
                )
            conn = ldap3.Connection(
                server,
                user=self.config.get("bind_dn") or None,
                password=self.system.get_secret() or None,
                receive_timeout=timeout,
                raise_exceptions=True,
                auto_referrals=False,
            )
            try:
                self._call(conn.open)
                if self.config.get("start_tls"):
                    self._call(conn.start_tls)
                self._call(conn.bind)
            except ConnectorError as exc:
                raise self.connect_failed(exc.__cause__ or exc, permanent=exc.permanent) from exc
            self._conn = conn
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            # A server that is gone already leaves nothing to release.
            with contextlib.suppress(lex.LDAPException):
                self._conn.unbind()
            self._conn = None

    def _error(self, exc: lex.LDAPException) -> ConnectorError:
        """Translate an ldap3 error: transient only when the server is away or busy."""
        if isinstance(exc, lex.LDAPOperationResult):
            if exc.result in _TRANSIENT_RESULTS:
                return ConnectorError(f"LDAP server busy: {exc}")
            # invalidCredentials, insufficientAccessRights, undefinedAttributeType, ...
            return ConnectorError(f"LDAP server refused: {exc}", permanent=True)
        if isinstance(exc, lex.LDAPCommunicationError | lex.LDAPResponseTimeoutError):
            self._conn = None  # never reuse a broken connection
            return self.connect_failed(exc)
        # LDAPBindError, LDAPStartTLSError, invalid filters or DNs, ...
        return ConnectorError(f"LDAP request failed: {exc}", permanent=True)

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
        base = _rdns(self.base_dn)
        dns, refused = {}, {}
        for credential in credentials:
            dn = credential.external_id
            try:
                rdns = _rdns(dn)
            except ConnectorError as exc:
                refused[credential.pk] = exc
                continue
            # Verification searches under base_dn: an entry outside it would
            # never be found and so look revoked. Refuse instead.
            if len(rdns) >= len(base) and rdns[len(rdns) - len(base) :] == base:
                dns[credential.pk] = dn
            else:
                refused[credential.pk] = ConnectorError(
                    f"{dn!r} is not under the system's base_dn {self.base_dn!r}", permanent=True
                )
        return dns, refused

    # Writes ----------------------------------------------------------------
    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        dns, refused = self._dns(list(credentials))
        results: dict[int, ConnectorError | None] = dict(refused)
        if not dns:
            return results
        conn = self._connection()
        if self.on_revoke == REMOVE_GROUPS:
            self._remove_memberships(conn, set(dns.values()))
            return results | {pk: None for pk in dns}
        for pk, dn in dns.items():
            try:
                if self.on_revoke == DELETE:
                    self._call(conn.delete, dn, ok=(_NO_SUCH_OBJECT,))
                elif self.disable_method == PPOLICY:
                    change: Changes = {
                        "pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED_FOREVER])]
                    }
                    self._call(conn.modify, dn, change, ok=(_NO_SUCH_OBJECT,))
                else:
                    change = {"userPassword": [(ldap3.MODIFY_DELETE, [])]}
                    # No password left (noSuchAttribute) is the state we want.
                    self._call(conn.modify, dn, change, ok=(_NO_SUCH_OBJECT, _NO_SUCH_ATTRIBUTE))
                results[pk] = None
            except ConnectorError as exc:
                if not exc.permanent:
                    raise  # the server went away: the rest would fail the same way
                results[pk] = exc
        return results

    def _groups_with(self, conn: ldap3.Connection, dns: set[str]) -> list[tuple[str, list[str]]]:
        """(group DN, members) of every group holding one of ``dns``."""
        attr = self.member_attribute
        found = []
        ordered = sorted(dns)
        for i in range(0, len(ordered), _CHUNK):
            members = "".join(
                f"({attr}={escape_filter_chars(dn)})" for dn in ordered[i : i + _CHUNK]
            )
            self._call(
                conn.search,
                self.group_base_dn,
                f"(&{self.group_filter}(|{members}))",
                attributes=[attr],
            )
            found += [(e.entry_dn, list(e[attr].values)) for e in conn.entries]
        unique = dict(found)
        return sorted(unique.items())

    def _remove_memberships(self, conn: ldap3.Connection, dns: set[str]) -> None:
        wanted = {_norm(dn) for dn in dns}
        for group_dn, members in self._groups_with(conn, dns):
            gone = [m for m in members if _norm(m) in wanted]
            if not gone:
                continue
            if len(gone) == len(members):
                # groupOfNames must keep a member: leave the placeholder only.
                change: Changes = {
                    self.member_attribute: [(ldap3.MODIFY_REPLACE, [self.placeholder_member])]
                }
            else:
                change = {self.member_attribute: [(ldap3.MODIFY_DELETE, gone)]}
            # A concurrent removal makes the value vanish first: that is success.
            self._call(conn.modify, group_dn, change, ok=(_NO_SUCH_OBJECT, _NO_SUCH_ATTRIBUTE))

    # Reads -----------------------------------------------------------------
    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        dns, refused = self._dns(list(credentials))
        if refused:
            # What cannot be read back must not be reported as revoked.
            raise next(iter(refused.values()))
        if not dns:
            return set()
        conn = self._connection()
        if self.on_revoke == REMOVE_GROUPS:
            remaining = {
                _norm(m)
                for _, members in self._groups_with(conn, set(dns.values()))
                for m in members
            }
        else:
            remaining = self._entries_still_usable(conn, set(dns.values()))
        return {pk for pk, dn in dns.items() if _norm(dn) in remaining}

    def _entries_still_usable(self, conn: ldap3.Connection, dns: set[str]) -> set[str]:
        """Normalised DNs among ``dns`` whose entry could still bind, by one search per chunk.

        LDAP cannot filter on the DN itself portably, so the filter names each
        entry's RDN and the answer is matched against the full DNs.
        """
        if self.on_revoke == DELETE:
            condition = ""
        elif self.disable_method == PPOLICY:
            condition = "(!(pwdAccountLockedTime=*))"
        else:
            condition = "(userPassword=*)"
        usable = set()
        ordered = sorted(dns)
        for i in range(0, len(ordered), _CHUNK):
            rdns = []
            for dn in ordered[i : i + _CHUNK]:
                attr, value, _ = parse_dn(dn)[0]
                rdns.append(f"({attr}={escape_filter_chars(_unescape(value))})")
            self._call(
                conn.search,
                self.base_dn,
                f"(&(|{''.join(rdns)}){condition})",
                attributes=ldap3.NO_ATTRIBUTES,
            )
            usable |= {_norm(e.entry_dn) for e in conn.entries}
        return usable & {_norm(dn) for dn in dns}

    def missing(self, credentials: Iterable[Credential]) -> dict[int, list[str]]:
        credentials = list(credentials)
        if not credentials:
            return {}
        # DNs compare without case or spacing: two spellings of one DN are one entry.
        names = [account.external_id for account in self.list_accounts()]
        listed = {_norm(name) for name in names}
        result: dict[int, list[str]] = {}
        for credential in credentials:
            try:
                norm = _norm(credential.external_id)
            except ConnectorError:
                norm = ""
            if norm not in listed:
                result[credential.pk] = close_matches(credential.external_id, names)
        return result

    def list_accounts(self) -> list[Account]:
        conn = self._connection()
        # mail and memberOf attribute unregistered accounts to vendors; the last bind
        # comes from the lastbind overlay (authTimestamp) or ppolicy (pwdLastSuccess)
        # where the directory keeps one. Attributes the server does not know are
        # simply not returned.
        entries = self._paged(conn, self.user_filter, [*_ACCOUNT_ATTRIBUTES])
        # Whether a password is set, without reading the hashes back.
        with_password = {
            _norm(dn) for dn, _ in self._paged(conn, f"(&{self.user_filter}(userPassword=*))", [])
        }
        accounts = []
        for dn, attributes in entries:
            locked = bool(attributes.get("pwdAccountLockedTime"))
            has_password = _norm(dn) in with_password
            flags = ((locked, "locked"), (not has_password, "no password"))
            accounts.append(
                Account(
                    external_id=dn,
                    active=has_password and not locked,
                    detail=", ".join(text for flag, text in flags if flag),
                    email=_first(attributes.get("mail")),
                    groups=tuple(str(g) for g in _values(attributes.get("memberOf"))),
                    last_login_at=_ldap_time(
                        _first(attributes.get("authTimestamp"))
                        or _first(attributes.get("pwdLastSuccess"))
                    ),
                )
            )
        return accounts

    def account_key(self, external_id: str) -> str:
        return _norm(external_id)

    def _paged(self, conn: ldap3.Connection, search_filter: str, attributes: list[str]):
        """(dn, attributes) of every entry under base_dn matching, page by page."""
        pages = self._call(
            conn.extend.standard.paged_search,
            self.base_dn,
            search_filter,
            attributes=attributes or ldap3.NO_ATTRIBUTES,
            paged_size=500,
            generator=True,
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


def _unescape(value: str) -> str:
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
