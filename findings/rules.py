"""The finding rules of a reconciliation pass: which differences between one account on
the target and the registry are findings, and of what kind.

Pure functions over what the pass read (one ``Account`` from the target, one
``Registered`` row from the registry): they return ``Sighting``s and touch no row,
except ``account_patterns`` and ``dormant_policy``, one read each per pass.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings

from access.models import Credential, System
from findings.models import AccountPattern, FindingPolicy
from findings.services import Sighting
from revocation.connectors.base import Account

REVOKED = (Credential.Status.REVOKED, Credential.Status.CONFIRMED)
LIVE_CREDENTIAL = (Credential.Status.ACTIVE, Credential.Status.FAILED)

# What the comparison reads of each credential of the system: one row of one query.
REGISTERED_FIELDS = (
    "pk",
    "external_id",
    "status",
    "vendor_id",
    "last_used_at",
    "revoked_at",
    "created_at",
    "issued_at",
    "last_seen_on_target_at",
)


@dataclass
class Registered:
    """A credential as the comparison sees it (``REGISTERED_FIELDS``, in order)."""

    pk: int
    external_id: str
    status: str
    vendor_id: int
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    created_at: dt.datetime
    issued_at: dt.datetime | None
    last_seen_on_target_at: dt.datetime | None = None


def credential_sighting(
    kind: str, cred: Registered, summary: str, evidence: dict | None = None
) -> Sighting:
    """A finding about a registered credential: its account, vendor and id as subject."""
    return Sighting(
        kind=kind,
        account=cred.external_id,
        vendor_id=cred.vendor_id,
        credential_id=cred.pk,
        summary=summary,
        evidence=evidence or {},
    )


# Orphans and their vendor ------------------------------------------------------


def account_patterns(system: System) -> list[tuple[int, str, str]]:
    """The agency's vendor account patterns, folded once for the whole pass."""
    return [
        (vendor_id, kind, value.casefold().strip())
        for vendor_id, kind, value in AccountPattern.objects.filter(
            vendor__agency_id=system.agency_id
        ).values_list("vendor_id", "kind", "value")
    ]


def _dn_key(value: str) -> str:
    return ",".join(part.strip() for part in value.casefold().split(","))


def attribute(account: Account, patterns: list[tuple[int, str, str]]) -> tuple[int | None, list]:
    """The vendor whose patterns match ``account`` (None when none or several do)."""
    if not patterns:
        return None, []
    name = account.external_id.casefold()
    email = (account.email or "").casefold()
    dn = _dn_key(account.dn or account.external_id)
    groups = {_dn_key(g) for g in account.groups}
    matched: dict[int, list[str]] = {}
    for vendor_id, kind, value in patterns:
        hit = (
            (kind == AccountPattern.Kind.PREFIX and name.startswith(value))
            or (kind == AccountPattern.Kind.EMAIL_DOMAIN and email.endswith("@" + value))
            or (kind == AccountPattern.Kind.DN_SUFFIX and dn.endswith("," + _dn_key(value)))
            or (kind == AccountPattern.Kind.GROUP and _dn_key(value) in groups)
        )
        if hit:
            matched.setdefault(vendor_id, []).append(f"{kind}:{value}")
    if len(matched) == 1:
        ((vendor_id, why),) = matched.items()
        return vendor_id, why
    return None, sorted(f"vendor {v}: {', '.join(w)}" for v, w in matched.items())


def orphan_sighting(
    account: Account, patterns: list[tuple[int, str, str]], evidence: dict
) -> Sighting:
    """An account no credential names, attributed to a vendor where patterns say whose."""
    vendor_id, why = attribute(account, patterns)
    if why:
        evidence = {**evidence, "attributed_by" if vendor_id else "ambiguous": why}
    return Sighting(
        kind="orphan",
        account=account.external_id,
        vendor_id=vendor_id,
        summary="On the target, in no credential"
        + ("" if account.active else " (cannot log in)")
        + ".",
        evidence=evidence,
    )


# Registered accounts -------------------------------------------------------------


LIFECYCLE_KINDS: dict[str, tuple[str, str]] = {
    System.Lifecycle.DECOMMISSIONED: (
        "decommissioned_access",
        "An account that can log in on a decommissioned system.",
    ),
    System.Lifecycle.LEGACY: (
        "legacy_access",
        "An account that can log in on a system marked legacy.",
    ),
}


def lifecycle_sighting(
    system: System, account: Account, cred: Registered | None, evidence: dict
) -> Sighting | None:
    """An account that can log in (or is connected) on a legacy or decommissioned
    system: nobody should still reach a decommissioned one, and access to a legacy
    one is what the breaches this product exists for came through."""
    entry = LIFECYCLE_KINDS.get(system.lifecycle)
    if entry is None or not (account.active or account.sessions > 0):
        return None
    kind, summary = entry
    return Sighting(
        kind=kind,
        account=account.external_id,
        vendor_id=cred.vendor_id if cred else None,
        credential_id=cred.pk if cred else None,
        summary=summary,
        evidence=evidence,
    )


def revoked_account_sightings(
    cred: Registered, account: Account, evidence: dict, *, settled: bool = True
) -> tuple[bool, list[Sighting]]:
    """Drift and use after revocation of a credential Sundown revoked.

    Returns whether it drifted (can log in again or has a session: it is to be
    revoked again) and the sightings. ``settled`` is False for a credential revoked
    while the target was being read: what was read may predate the revocation, so the
    next pass judges it.
    """
    if cred.status not in REVOKED or not settled:
        return False, []
    sightings = []
    drifted = account.active or account.sessions > 0
    if drifted:
        sightings.append(
            credential_sighting(
                "drift",
                cred,
                "Revoked access is active on the target again; revoking it again.",
                evidence,
            )
        )
    logged_in_since = bool(
        account.last_login_at and cred.revoked_at and account.last_login_at > cred.revoked_at
    )
    if account.sessions > 0 or logged_in_since:
        sightings.append(
            credential_sighting(
                "used_after_revocation",
                cred,
                f"{account.sessions} live session(s)"
                + (" and a login" if logged_in_since else "")
                + " after revocation.",
                evidence,
            )
        )
    return drifted, sightings


def not_found_sighting(cred: Registered) -> Sighting:
    return credential_sighting(
        "not_found", cred, "A registered credential the target does not show."
    )


# Dormancy -----------------------------------------------------------------------


def dormant_policy(system: System) -> tuple[int, bool]:
    """The agency's dormancy limit in days, and whether dormant access is revoked."""
    policy = FindingPolicy.objects.filter(agency_id=system.agency_id).first()
    if policy is None:
        return settings.SUNDOWN_DORMANT_DAYS, False
    return policy.dormant_days, policy.dormant_revoke


def dormant_sighting(
    cred: Registered, last: dt.datetime | None, now: dt.datetime, days: int
) -> Sighting | None:
    """Active access the target shows that nobody used within ``days``.

    ``last``: the latest use known (this pass's or the registry's). Never used counts
    from when the access was issued (or registered).
    """
    since = last or cred.issued_at or cred.created_at
    if since > now - dt.timedelta(days=days):
        return None
    return credential_sighting(
        "dormant",
        cred,
        f"Not used for {(now - since).days} days (limit {days})."
        if last
        else f"Never used in the {(now - since).days} days since it was issued.",
        {"last_used_at": last.isoformat() if last else None, "limit_days": days},
    )
