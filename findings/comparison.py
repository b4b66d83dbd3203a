"""The comparison of one reconciliation pass: the target's accounts against the
system's credentials, and its writes (in the caller's transaction).

The rules that turn a difference into a finding are in ``findings.rules``; what a use
means and how it is recorded, in ``findings.usage``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings

from access.models import Credential, System
from audit.actor import Actor
from findings.models import ReconciliationRun
from findings.rules import (
    LIVE_CREDENTIAL,
    REGISTERED_FIELDS,
    REVOKED,
    Registered,
    account_patterns,
    credential_sighting,
    dormant_policy,
    dormant_sighting,
    lifecycle_sighting,
    not_found_sighting,
    orphan_sighting,
    revoked_account_sightings,
)
from findings.services import Sighting, findings_raise, findings_resolve_absent
from findings.usage import access_ended_at, account_evidence, chunks, last_used_update
from revocation.connectors.base import Account
from revocation.services.common import db_now
from revocation.services.requests import request_revocation

# The kinds a complete pass decides by itself: what it no longer sees, it resolves.
SELF_RESOLVING = ("orphan", "not_found", "decommissioned_access", "legacy_access", "dormant")


@dataclass
class Comparison:
    """What one pass found (also what the bench prints)."""

    sightings: list[Sighting] = field(default_factory=list)
    drift_ids: list[int] = field(default_factory=list)
    seen_ids: list[int] = field(default_factory=list)
    # Of those, the ones whose last_seen_on_target_at is missing or older than the
    # refresh period (the only rows the pass rewrites).
    refresh_ids: list[int] = field(default_factory=list)
    absent_ids: list[int] = field(default_factory=list)
    used_now: list[int] = field(default_factory=list)
    logins: dict[int, dt.datetime] = field(default_factory=dict)


def compare(
    *,
    system: System,
    accounts: list[Account],
    key_of: Callable[[str], str],
    actor: Actor,
    run: ReconciliationRun,
    revoked_before: set[int] | None = None,
) -> Comparison:
    """The comparison and its writes; runs inside the caller's transaction.

    ``revoked_before``: the credentials that were revoked before ``accounts`` was read
    (None: all of them); only those can have drifted.
    """
    now = db_now()
    stale = now - dt.timedelta(seconds=settings.SUNDOWN_RECONCILE_SEEN_REFRESH_SECONDS)
    by_key: dict[str, Account] = {}
    for account in accounts:
        by_key.setdefault(key_of(account.external_id), account)
    creds = {
        key_of(row[1]): Registered(*row)
        for row in Credential.objects.filter(system=system).values_list(*REGISTERED_FIELDS)
    }
    result = Comparison()
    patterns = account_patterns(system)
    used_creds: list[tuple[Registered, Account]] = []
    for key, account in by_key.items():
        evidence = account_evidence(account)
        cred = creds.get(key)
        lifecycle = lifecycle_sighting(system, account, cred, evidence)
        if lifecycle is not None:
            result.sightings.append(lifecycle)
        if cred is None:
            result.sightings.append(orphan_sighting(account, patterns, evidence))
            continue
        result.seen_ids.append(cred.pk)
        if cred.last_seen_on_target_at is None or cred.last_seen_on_target_at < stale:
            result.refresh_ids.append(cred.pk)
        if account.sessions > 0:
            result.used_now.append(cred.pk)
        if account.last_login_at and (
            cred.last_used_at is None or account.last_login_at > cred.last_used_at
        ):
            result.logins[cred.pk] = account.last_login_at
        if account.sessions > 0 or cred.pk in result.logins:
            used_creds.append((cred, account))
        settled = revoked_before is None or cred.pk in revoked_before
        drifted, sightings = revoked_account_sightings(cred, account, evidence, settled=settled)
        if drifted:
            result.drift_ids.append(cred.pk)
        result.sightings.extend(sightings)
    for key, cred in creds.items():
        if key not in by_key and cred.status in LIVE_CREDENTIAL:
            result.absent_ids.append(cred.pk)
            result.sightings.append(not_found_sighting(cred))
    _used_after_contract_end(used_creds, now, result)
    dormant_ids = _dormant(system, creds, by_key, now, result)
    _write(system=system, actor=actor, run=run, now=now, result=result, dormant_ids=dormant_ids)
    _count(run, by_key, result)
    return result


def _used_after_contract_end(
    used_creds: list[tuple[Registered, Account]], now: dt.datetime, result: Comparison
) -> None:
    """Unrevoked credentials whose every contract has ended, with a live session now or
    a login the target recorded at or after that end (one Sundown had not recorded yet:
    a login already in ``last_used_at`` was judged by an earlier pass)."""
    candidates = {cred.pk: (cred, account) for cred, account in used_creds}
    candidates = {pk: pair for pk, pair in candidates.items() if pair[0].status not in REVOKED}
    for pk, last_end in access_ended_at(candidates).items():
        if last_end > now:
            continue
        cred, account = candidates[pk]
        login = result.logins.get(pk)
        logged_in_since = login is not None and login >= last_end
        if account.sessions == 0 and not logged_in_since:
            continue
        what = f"{account.sessions} live session(s)" if account.sessions else "A login"
        if account.sessions and logged_in_since:
            what += " and a login"
        result.sightings.append(
            credential_sighting(
                "used_after_contract_end",
                cred,
                f"{what}; every contract ended {last_end:%Y-%m-%d %H:%M} UTC.",
                {**account_evidence(account), "access_ended_at": last_end.isoformat()},
            )
        )


def _dormant(
    system: System, creds: dict[str, Registered], by_key: dict, now, result: Comparison
) -> list[int]:
    """Dormant sightings; returns the ids to revoke when the agency's policy says so."""
    days, revoke_dormant = dormant_policy(system)
    used_now = set(result.used_now)
    revoke = []
    for key, cred in creds.items():
        if cred.status != Credential.Status.ACTIVE or key not in by_key or cred.pk in used_now:
            continue
        sighting = dormant_sighting(
            cred, result.logins.get(cred.pk) or cred.last_used_at, now, days
        )
        if sighting is None:
            continue
        result.sightings.append(sighting)
        if revoke_dormant:
            revoke.append(cred.pk)
    return revoke


def _write(
    *,
    system: System,
    actor: Actor,
    run: ReconciliationRun,
    now: dt.datetime,
    result: Comparison,
    dormant_ids: list[int],
) -> None:
    """When the target showed what, who used what, revocations and findings."""
    # Refreshed when missing or older than the refresh period: the engine needs to
    # know that the target has shown an account, not that it did so this very hour,
    # and rewriting 100,000 rows every pass would be most of the pass's cost.
    # (Chosen by compare from the row it read: a steady pass sends no UPDATE at all.)
    for ids in chunks(result.refresh_ids):
        Credential.objects.filter(pk__in=ids).update(
            last_seen_on_target_at=now, target_checked_at=now
        )
    for ids in chunks(result.absent_ids):
        Credential.objects.filter(pk__in=ids).update(target_checked_at=now)
    last_used_update(used_now=result.used_now, now=now, logins=result.logins)
    if result.drift_ids:
        request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk__in=result.drift_ids),
            reason="Drift: the target shows this revoked access active again.",
            trigger="drift",
            statuses=REVOKED,
            extra={"run": run.pk},
        )
    if dormant_ids:
        request_revocation(
            actor=actor,
            queryset=Credential.objects.filter(pk__in=dormant_ids),
            reason="Dormant: not used within the agency's limit.",
            trigger="dormant",
            extra={"run": run.pk, "policy": {"name": "dormant", "days": dormant_policy(system)[0]}},
        )
    raised = findings_raise(actor=actor, system=system, sightings=result.sightings)
    present = {(s.kind, s.account) for s in result.sightings if s.kind in SELF_RESOLVING}
    resolved = findings_resolve_absent(
        actor=actor,
        system=system,
        kinds=SELF_RESOLVING,
        present=present,
        reason="Reconciliation no longer sees it on the target.",
    )
    run.findings_opened = len(raised.opened)
    run.findings_resolved = len(resolved)


def _count(run: ReconciliationRun, by_key: dict[str, Account], result: Comparison) -> None:
    kinds = [s.kind for s in result.sightings]
    run.accounts = len(by_key)
    run.active_accounts = sum(1 for a in by_key.values() if a.active)
    run.sessions = sum(a.sessions for a in by_key.values())
    run.matched = len(result.seen_ids)
    run.orphans = kinds.count("orphan")
    run.drifted = len(result.drift_ids)
    run.not_found = len(result.absent_ids)
    run.used_after_end = kinds.count("used_after_contract_end") + kinds.count(
        "used_after_revocation"
    )
