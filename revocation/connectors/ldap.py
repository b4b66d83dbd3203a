"""LDAP directory entries (written against OpenLDAP slapd; plain LDAPv3).

Active Directory has its own kind (``ad.py``): AD keeps passwords in ``unicodePwd``
and disables accounts through ``userAccountControl``, so this one does not fit it.

``system.config``: the connection settings of ``directory.py`` (``url`` or ``host``
and ``port``, ``start_tls``, ``bind_dn``, ``base_dn``: every credential's DN must lie
under it, ``timeout``, and TLS verified against ``tls_ca`` / ``tls_ca_file`` or the
system trust store unless ``tls_verify: false``) and ``on_revoke``:

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

from collections.abc import Iterable

import ldap3
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from access.models import Credential
from revocation.connectors.meta.ldap import META

from .base import Account, ConnectorError, close_matches
from .directory import (
    CHUNK,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    DirectoryConnector,
    first,
    ldap_time,
    norm_dn,
    unescape,
    values,
)

DISABLE, DELETE, REMOVE_GROUPS = "disable", "delete", "remove_groups"
PASSWORD, PPOLICY = "password", "ppolicy"
# ldap3's modify() changes: attribute -> [(operation, values)].
Changes = dict[str, list[tuple[str, list[str]]]]
LOCKED_FOREVER = "000001010000Z"  # ppolicy: locked until an administrator clears it

_ACCOUNT_ATTRIBUTES = (
    "pwdAccountLockedTime",
    "mail",
    "memberOf",
    "authTimestamp",
    "pwdLastSuccess",
)


class LDAPConnector(DirectoryConnector):
    """Disables, deletes or ungroups directory entries over one bound connection."""

    config_keys = META.config_keys
    config_help = META.config_help

    limits = META.limits

    def __init__(self, system):
        super().__init__(system)
        cfg = self.config
        self.on_revoke = self.choice("on_revoke", (DISABLE, DELETE, REMOVE_GROUPS))
        self.disable_method = self.choice("disable_method", (PASSWORD, PPOLICY))
        self.group_base_dn = cfg.get("group_base_dn") or self.base_dn
        self.group_filter = cfg.get("group_filter", "(objectClass=groupOfNames)")
        self.member_attribute = cfg.get("member_attribute", "member")
        self.placeholder_member = cfg.get("placeholder_member", "cn=nobody")
        self.user_filter = cfg.get("user_filter", "(objectClass=inetOrgPerson)")

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
                    self._call(conn.delete, dn, ok=(NO_SUCH_OBJECT,))
                elif self.disable_method == PPOLICY:
                    change: Changes = {
                        "pwdAccountLockedTime": [(ldap3.MODIFY_REPLACE, [LOCKED_FOREVER])]
                    }
                    self._call(conn.modify, dn, change, ok=(NO_SUCH_OBJECT,))
                else:
                    change = {"userPassword": [(ldap3.MODIFY_DELETE, [])]}
                    # No password left (noSuchAttribute) is the state we want.
                    self._call(conn.modify, dn, change, ok=(NO_SUCH_OBJECT, NO_SUCH_ATTRIBUTE))
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
        for i in range(0, len(ordered), CHUNK):
            members = "".join(
                f"({attr}={escape_filter_chars(dn)})" for dn in ordered[i : i + CHUNK]
            )
            self._call(
                conn.search,
                self.group_base_dn,
                f"(&{self.group_filter}(|{members}))",
                attributes=[attr],
                time_limit=self.timeout,
            )
            found += [(e.entry_dn, list(e[attr].values)) for e in conn.entries]
        unique = dict(found)
        return sorted(unique.items())

    def _remove_memberships(self, conn: ldap3.Connection, dns: set[str]) -> None:
        wanted = {norm_dn(dn) for dn in dns}
        for group_dn, members in self._groups_with(conn, dns):
            gone = [m for m in members if norm_dn(m) in wanted]
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
            self._call(conn.modify, group_dn, change, ok=(NO_SUCH_OBJECT, NO_SUCH_ATTRIBUTE))

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
                norm_dn(m)
                for _, members in self._groups_with(conn, set(dns.values()))
                for m in members
            }
        else:
            remaining = self._entries_still_usable(conn, set(dns.values()))
        return {pk for pk, dn in dns.items() if norm_dn(dn) in remaining}

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
        for i in range(0, len(ordered), CHUNK):
            rdns = []
            for dn in ordered[i : i + CHUNK]:
                attr, value, _ = parse_dn(dn)[0]
                rdns.append(f"({attr}={escape_filter_chars(unescape(value))})")
            self._call(
                conn.search,
                self.base_dn,
                f"(&(|{''.join(rdns)}){condition})",
                attributes=ldap3.NO_ATTRIBUTES,
                time_limit=self.timeout,
            )
            usable |= {norm_dn(e.entry_dn) for e in conn.entries}
        return usable & {norm_dn(dn) for dn in dns}

    def missing(self, credentials: Iterable[Credential]) -> dict[int, list[str]]:
        credentials = list(credentials)
        if not credentials:
            return {}
        # DNs compare without case or spacing: two spellings of one DN are one entry.
        names = [account.external_id for account in self.list_accounts()]
        listed = {norm_dn(name) for name in names}
        result: dict[int, list[str]] = {}
        for credential in credentials:
            try:
                norm = norm_dn(credential.external_id)
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
            norm_dn(dn) for dn, _ in self._paged(conn, f"(&{self.user_filter}(userPassword=*))", [])
        }
        accounts = []
        for dn, attributes in entries:
            locked = bool(attributes.get("pwdAccountLockedTime"))
            has_password = norm_dn(dn) in with_password
            flags = ((locked, "locked"), (not has_password, "no password"))
            accounts.append(
                Account(
                    external_id=dn,
                    active=has_password and not locked,
                    detail=", ".join(text for flag, text in flags if flag),
                    email=first(attributes.get("mail")),
                    groups=tuple(str(g) for g in values(attributes.get("memberOf"))),
                    last_login_at=ldap_time(
                        first(attributes.get("authTimestamp"))
                        or first(attributes.get("pwdLastSuccess"))
                    ),
                )
            )
        return accounts

    def account_key(self, external_id: str) -> str:
        return norm_dn(external_id)
