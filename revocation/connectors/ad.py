"""Active Directory accounts (written against a Samba 4.17 AD DC; the same LDAP as Windows).

``external_id`` is the account's ``sAMAccountName`` (the pre-Windows 2000 logon name,
``acme.jdoe``): unique in the domain, compared without case as AD does, and unchanged
when an administrator moves the account to another OU (a DN would then vanish). The
account must lie under ``base_dn``.

``system.config``: the connection settings of ``directory.py`` (``url``, ``bind_dn``,
``base_dn``, ``timeout``, TLS verified against ``tls_ca`` / ``tls_ca_file`` or the
system trust store unless ``tls_verify: false``). AD refuses a simple bind on plain
``ldap://`` (``strongerAuthRequired``): use ``ldaps://`` or ``start_tls``. Also
``user_filter`` (``(&(objectCategory=person)(objectClass=user))``), ``group_base_dn``
(``base_dn``) and ``on_revoke``:

- ``"disable"`` (default): sets bit 0x2 (ACCOUNTDISABLE) in ``userAccountControl``,
  keeping every other bit: the current value is read and replaced by a delete of the
  value read plus an add of the new one, so a concurrent change on Windows fails the
  write (``noSuchAttribute``) and is read again instead of being overwritten. (Samba
  applies such a pair as a replace.) A disabled account's bind fails with
  ``data 533`` and ``kinit`` says "credentials have been revoked".
- ``"delete"``: the account is deleted (with the tree-delete control, so objects AD
  keeps below a user, such as devices, go with it); AD keeps it as a tombstone that
  no search without the show-deleted control returns.
- ``"remove_groups"``: the account is removed from every group under
  ``group_base_dn`` that ``memberOf`` lists, including groups it is the only member
  of (AD allows an empty group: nothing stands in). The primary group
  (``primaryGroupID``, usually Domain Users) is not a ``member`` value and stays.

Verify is one search per batch: the enabled accounts among the batch
(``(!(userAccountControl:1.2.840.113556.1.4.803:=2))``), those that exist at all
(delete), or their ``memberOf`` (remove_groups).

What AD cannot do, and Sundown cannot do for it:

- Kerberos tickets already issued live out their lifetime (10 hours by default):
  disabling stops new logons and ticket renewals, not a ticket in hand. Sessions on
  member servers go on until they need a new ticket, and an LDAP connection already
  bound as the account keeps working until it binds again (seen on Samba).
- Domain controllers replicate: the change is made and read back on the DC in
  ``url``; another DC accepts the old state until replication reaches it (seconds
  within a site, up to the replication interval between sites). Point ``url`` at the
  DC that holds the PDC emulator role to shorten it.
- ``lastLogonTimestamp`` (the last use in reconciliation) is replicated lazily, up to
  14 days behind the real last logon.

The connector refuses to disable, delete or ungroup its own bind account (found by
``bind_dn`` as a DN, ``user@domain`` or ``DOMAIN\\name``). ``list_accounts`` leaves out
AD's own critical system objects (Administrator, Guest, krbtgt, DNS service account).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import ldap3
from ldap3.utils.conv import escape_filter_chars

from access.models import Credential
from revocation.connectors.meta.ad import META

from .base import Account, ConnectorError
from .directory import (
    CHUNK,
    NO_SUCH_ATTRIBUTE,
    NO_SUCH_OBJECT,
    DirectoryConnector,
    first,
    is_under,
    norm_dn,
    rdns,
    values,
)

DISABLE, DELETE, REMOVE_GROUPS = "disable", "delete", "remove_groups"
ACCOUNTDISABLE = 0x2
# LDAP_MATCHING_RULE_BIT_AND: true when every bit of the value is set.
DISABLED_FILTER = "(userAccountControl:1.2.840.113556.1.4.803:=2)"
TREE_DELETE = ("1.2.840.113556.1.4.805", True, None)
NOT_SYSTEM = "(!(isCriticalSystemObject=TRUE))"
_ATTRIBUTES = ("sAMAccountName", "userAccountControl", "userPrincipalName", "memberOf")
_LIST_ATTRIBUTES = (*_ATTRIBUTES, "lastLogonTimestamp", "mail", "lockoutTime")
# A Windows FILETIME counts 100 ns steps from 1601-01-01 UTC.
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_RETRIES = 3


@dataclass(frozen=True)
class _Entry:
    dn: str
    sam: str
    uac: int
    upn: str
    member_of: tuple[str, ...]

    @property
    def enabled(self) -> bool:
        return not self.uac & ACCOUNTDISABLE


def filetime(value) -> datetime | None:
    """``lastLogonTimestamp`` (a FILETIME as text) as UTC; 0 or nothing is never."""
    try:
        ticks = int(first(value) or 0)
    except ValueError:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=ticks // 10) if ticks > 0 else None


def _uac(value) -> int:
    try:
        return int(first(value) or 0)
    except ValueError:
        return 0


class ADConnector(DirectoryConnector):
    """Disables (userAccountControl), deletes or ungroups Active Directory accounts."""

    config_keys = META.config_keys
    config_help = META.config_help
    secret_help = META.secret_help
    limits = META.limits

    def __init__(self, system):
        super().__init__(system)
        self.on_revoke = self.choice("on_revoke", (DISABLE, DELETE, REMOVE_GROUPS))
        self.user_filter = self.config.get(
            "user_filter", "(&(objectCategory=person)(objectClass=user))"
        )
        self.group_base_dn = self.config.get("group_base_dn") or self.base_dn

    # Lookups ---------------------------------------------------------------
    def _lookup(self, conn: ldap3.Connection, names: Iterable[str]) -> dict[str, _Entry]:
        """The accounts under base_dn with these sAMAccountNames, by casefolded name;
        one search per chunk."""
        found: dict[str, _Entry] = {}
        ordered = sorted({n.casefold() for n in names})
        for i in range(0, len(ordered), CHUNK):
            wanted = "".join(
                f"(sAMAccountName={escape_filter_chars(n)})" for n in ordered[i : i + CHUNK]
            )
            for dn, attrs in self._paged(conn, f"(&{self.user_filter}(|{wanted}))", _ATTRIBUTES):
                entry = _Entry(
                    dn=dn,
                    sam=first(attrs.get("sAMAccountName")),
                    uac=_uac(attrs.get("userAccountControl")),
                    upn=first(attrs.get("userPrincipalName")),
                    member_of=tuple(str(g) for g in values(attrs.get("memberOf"))),
                )
                found[entry.sam.casefold()] = entry
        return found

    def _names(
        self, credentials: list[Credential]
    ) -> tuple[dict[int, str], dict[int, ConnectorError]]:
        """Each credential's sAMAccountName, and a refusal for what cannot be one."""
        names, refused = {}, {}
        for credential in credentials:
            name = credential.external_id.strip()
            if not name or any(c in name for c in '"/\\[]:;|=,+*?<>@'):
                refused[credential.pk] = ConnectorError(
                    f"{credential.external_id!r} is not a sAMAccountName: Active Directory "
                    "credentials name the account's logon name (acme.jdoe), not a DN or a "
                    "user@domain name.",
                    permanent=True,
                )
            else:
                names[credential.pk] = name
        return names, refused

    def _is_bind_account(self, entry: _Entry) -> bool:
        bind = str(self.config.get("bind_dn") or "").strip()
        if not bind:
            return False
        if "=" in bind:
            try:
                return norm_dn(bind) == norm_dn(entry.dn)
            except ConnectorError:
                return False
        if "@" in bind:
            return bind.casefold() == entry.upn.casefold()
        return bind.rpartition("\\")[2].casefold() == entry.sam.casefold()

    def _groups(self, entry: _Entry) -> list[str]:
        return [g for g in entry.member_of if is_under(g, self.group_base_dn)]

    # Writes ----------------------------------------------------------------
    def revoke_many(self, credentials: Iterable[Credential]) -> dict[int, ConnectorError | None]:
        names, refused = self._names(list(credentials))
        results: dict[int, ConnectorError | None] = dict(refused)
        if not names:
            return results
        conn = self._connection()
        entries = self._lookup(conn, names.values())
        for pk, name in names.items():
            entry = entries.get(name.casefold())
            if entry is None:
                results[pk] = None  # gone; whether it ever was there is missing()'s call
                continue
            if self._is_bind_account(entry):
                results[pk] = ConnectorError(
                    f"Refusing to revoke {entry.sam!r}: it is the account Sundown binds as "
                    "(the connector's own bind_dn). Revoke it by hand.",
                    permanent=True,
                )
                continue
            try:
                if self.on_revoke == DELETE:
                    self._call(conn.delete, entry.dn, controls=[TREE_DELETE], ok=(NO_SUCH_OBJECT,))
                elif self.on_revoke == REMOVE_GROUPS:
                    for group in self._groups(entry):
                        change = {"member": [(ldap3.MODIFY_DELETE, [entry.dn])]}
                        self._call(conn.modify, group, change, ok=(NO_SUCH_OBJECT,))
                else:
                    self._disable(conn, entry)
                results[pk] = None
            except ConnectorError as exc:
                if not exc.permanent:
                    raise  # the server went away: the rest would fail the same way
                results[pk] = exc
        return results

    def _disable(self, conn: ldap3.Connection, entry: _Entry) -> None:
        """Set ACCOUNTDISABLE, keeping the other bits; re-read if the value moved."""
        for _ in range(_RETRIES):
            if not entry.enabled:
                return
            change = {
                "userAccountControl": [
                    (ldap3.MODIFY_DELETE, [str(entry.uac)]),
                    (ldap3.MODIFY_ADD, [str(entry.uac | ACCOUNTDISABLE)]),
                ]
            }
            done = self._call(conn.modify, entry.dn, change, ok=(NO_SUCH_ATTRIBUTE, NO_SUCH_OBJECT))
            if done is not None:
                return
            fresh = self._lookup(conn, [entry.sam]).get(entry.sam.casefold())
            if fresh is None:
                return  # deleted meanwhile: gone is what we want
            entry = fresh
        raise ConnectorError(
            f"userAccountControl of {entry.sam!r} kept changing while Sundown set "
            "ACCOUNTDISABLE; it will be tried again",
        )

    # Reads -----------------------------------------------------------------
    def still_active(self, credentials: Iterable[Credential]) -> set[int]:
        names, refused = self._names(list(credentials))
        if refused:
            # What cannot be read back must not be reported as revoked.
            raise next(iter(refused.values()))
        if not names:
            return set()
        conn = self._connection()
        if self.on_revoke == DISABLE:
            return self._enabled(conn, names)
        entries = self._lookup(conn, names.values())
        active = set()
        for pk, name in names.items():
            entry = entries.get(name.casefold())
            if entry is not None and (self.on_revoke == DELETE or self._groups(entry)):
                active.add(pk)
        return active

    def _enabled(self, conn: ldap3.Connection, names: dict[int, str]) -> set[int]:
        """The credentials whose account is enabled, asked of the directory itself with
        AD's bitwise matching rule (one search per chunk)."""
        enabled: set[str] = set()
        ordered = sorted({n.casefold() for n in names.values()})
        for i in range(0, len(ordered), CHUNK):
            wanted = "".join(
                f"(sAMAccountName={escape_filter_chars(n)})" for n in ordered[i : i + CHUNK]
            )
            query = f"(&{self.user_filter}(|{wanted})(!{DISABLED_FILTER}))"
            found = self._paged(conn, query, ["sAMAccountName"])
            enabled |= {first(attrs.get("sAMAccountName")).casefold() for _, attrs in found}
        return {pk for pk, name in names.items() if name.casefold() in enabled}

    def missing(self, credentials: Iterable[Credential]) -> dict[int, list[str]]:
        credentials = list(credentials)
        if not credentials:
            return {}
        names, refused = self._names(credentials)
        conn = self._connection()
        entries = self._lookup(conn, names.values()) if names else {}
        result: dict[int, list[str]] = {}
        for credential in credentials:
            name = names.get(credential.pk)
            if name is None or name.casefold() not in entries:
                result[credential.pk] = self._close_matches(conn, credential.external_id)
        return result

    def _close_matches(self, conn: ldap3.Connection, wanted: str) -> list[str]:
        """What a person may have meant: the account a DN or a user@domain name names."""
        wanted = wanted.strip()
        if "@" in wanted:
            query = f"(&{self.user_filter}(userPrincipalName={escape_filter_chars(wanted)}))"
        elif "=" in wanted:
            try:
                first_rdn = rdns(wanted)[0]
            except ConnectorError:
                return []
            attr, _, value = first_rdn.partition("=")
            if attr != "cn":
                return []
            query = f"(&{self.user_filter}(cn={escape_filter_chars(value)}))"
        else:
            return []
        found = self._paged(conn, query, ["sAMAccountName"])
        if "=" in wanted:
            found = [(dn, a) for dn, a in found if norm_dn(dn) == norm_dn(wanted)]
        return sorted(first(a.get("sAMAccountName")) for _, a in found)[:5]

    def list_accounts(self) -> list[Account]:
        conn = self._connection()
        accounts = []
        for dn, attrs in self._paged(conn, f"(&{self.user_filter}{NOT_SYSTEM})", _LIST_ATTRIBUTES):
            uac = _uac(attrs.get("userAccountControl"))
            enabled = not uac & ACCOUNTDISABLE
            flags = [] if enabled else ["disabled"]
            if int(first(attrs.get("lockoutTime")) or 0) > 0:
                flags.append("locked out")
            accounts.append(
                Account(
                    external_id=first(attrs.get("sAMAccountName")),
                    active=enabled,
                    detail=", ".join([*flags, dn]),
                    email=first(attrs.get("mail")),
                    groups=tuple(str(g) for g in values(attrs.get("memberOf"))),
                    last_login_at=filetime(attrs.get("lastLogonTimestamp")),
                    dn=dn,
                )
            )
        return accounts

    def account_key(self, external_id: str) -> str:
        return external_id.strip().casefold()
